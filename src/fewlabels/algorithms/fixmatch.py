"""FixMatch (Sohn et al., NeurIPS 2020): weak-view pseudo-labels train the strong view.

For each unlabeled image, the student's prediction on its weak view (flip and shift) becomes a
hard pseudo-label when its confidence reaches `threshold`; the student is then trained to
predict that label on the image's strong view (RandAugment and Cutout). Defaults are the
paper's (section 3, table 4 of the appendix): threshold 0.95, `lambda_u` 1, hard labels.
`distribution_alignment=True` adds ReMixMatch's distribution alignment (Berthelot et al.,
2020, section 3.2) toward a uniform class distribution, as in USB's FixMatch variants.
"""

from __future__ import annotations

from keras import ops

from fewlabels import targets
from fewlabels.algorithms.base import (
    MORE_LABELS,
    Algorithm,
    advice,
    ema_assign,
    masked_cross_entropy,
)
from fewlabels.algorithms.registry import register
from fewlabels.errors import InputError
from fewlabels.replicas import gathered


@register
class FixMatch(Algorithm):
    """FixMatch.

    Args:
        threshold: the confidence a weak-view prediction needs to become a pseudo-label.
        lambda_u: the unsupervised weight.
        warmup_steps: linear ramp-up of the unsupervised weight (the paper uses none).
        distribution_alignment: align weak-view predictions to a uniform class distribution
            (a running mean with momentum 0.999) before thresholding.
    """

    registry_name = "fixmatch"
    weak_is_target = True
    summary = "weak-view pseudo-labels above a fixed threshold train the strong view (2020)"

    def __init__(self, threshold: float = 0.95, lambda_u: float = 1.0, warmup_steps: int = 0,
                 distribution_alignment: bool = False, **kwargs) -> None:
        super().__init__(lambda_u=lambda_u, warmup_steps=warmup_steps, **kwargs)
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1]; got {threshold!r}.")
        self.threshold = float(threshold)
        self.distribution_alignment = bool(distribution_alignment)

    def collapse_advice(self) -> str:
        """Class-wise thresholds, distribution alignment unless it is on, more labels."""
        return advice(["class-wise thresholds (--method flexmatch or freematch)",
                       *self._alignment_advice(), MORE_LABELS])

    def _alignment_advice(self) -> list[str]:
        return [] if self.distribution_alignment else [
            "distribution alignment (--distribution-alignment)"]

    def build_state(self, n_classes, n_unlabeled, student) -> None:
        super().build_state(n_classes, n_unlabeled, student)
        self.p_model = self.add_state("p_model", (n_classes,), 1.0 / n_classes)

    def aligned(self, weak):
        """Weak-view probabilities, distribution-aligned if enabled (no gradient)."""
        weak = ops.stop_gradient(weak)
        if not self.distribution_alignment:
            return weak
        ema_assign(self.p_model, ops.mean(gathered(weak), axis=0), 0.999)
        return targets.distribution_align(weak, self.p_model)  # to uniform

    def unsupervised(self, weak, strong, batch, student) -> dict:
        probs = self.aligned(weak)
        mask = targets.confidence_mask(probs, self.threshold)
        hard = targets.hard_targets(probs)
        return {"loss": masked_cross_entropy(hard, strong, mask), "mask": mask,
                "pseudo_labels": ops.argmax(hard, axis=-1)}

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold,
                "distribution_alignment": self.distribution_alignment}
