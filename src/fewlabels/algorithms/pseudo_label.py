"""Pseudo-Label (Lee, 2013), online: confident predictions on unlabeled data become targets.

Each step, the student's prediction on an unlabeled image's weak view becomes a hard target
for that same view when its confidence reaches `threshold`. Defaults follow the USB benchmark
(Wang et al., 2022, appendix: threshold 0.95, `lambda_u` 1); Lee's paper ramps the weight up
over the first steps (`warmup_steps`).
"""

from __future__ import annotations

from keras import ops

from fewlabels import targets
from fewlabels.algorithms.base import Algorithm, masked_cross_entropy
from fewlabels.algorithms.registry import register
from fewlabels.errors import InputError


@register
class PseudoLabel(Algorithm):
    """Online pseudo-labeling on the weak view.

    Args:
        threshold: the confidence a prediction needs to become a target.
        lambda_u: the unsupervised weight.
        warmup_steps: linear ramp-up of the unsupervised weight.
    """

    registry_name = "pseudo-label"
    summary = "confident predictions on the weak view become its hard targets (Lee 2013)"
    uses_strong = False

    def __init__(self, threshold: float = 0.95, lambda_u: float = 1.0, warmup_steps: int = 0,
                 **kwargs) -> None:
        super().__init__(lambda_u=lambda_u, warmup_steps=warmup_steps, **kwargs)
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1]; got {threshold!r}.")
        self.threshold = float(threshold)

    def unsupervised(self, weak, strong, batch, student) -> dict:
        mask = targets.confidence_mask(weak, self.threshold)
        hard = targets.hard_targets(weak)
        return {"loss": masked_cross_entropy(hard, weak, mask), "mask": mask,
                "pseudo_labels": ops.argmax(hard, axis=-1)}

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}
