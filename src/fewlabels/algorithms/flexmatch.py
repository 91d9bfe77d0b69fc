"""FlexMatch (Zhang et al., NeurIPS 2021): FixMatch with curriculum class-wise thresholds.

A class whose unlabeled images are rarely predicted confidently gets a lower threshold, so
that hard classes are not starved of pseudo-labels early on. Each unlabeled image remembers
its last confident prediction; the learning effect of class c, sigma(c), counts the images
whose remembered prediction is c. Then (section 3.2, equations 6-7):

    beta(c) = sigma(c) / max(max_c sigma, N - sum_c sigma)     (threshold warm-up)
    T(c)    = M(beta(c)) * threshold,   M(x) = x / (2 - x)      (convex mapping)

Defaults follow the paper (section 4): threshold 0.95, `lambda_u` 1, hard labels, warm-up on.
Unlike FixMatch's fixed threshold, the thresholds start near 0, so early pseudo-labels are
plentiful and noisy; the paper's answer is the threshold warm-up, on by default here. It is
not enough in a short run: with every pseudo-label in at full weight from the first step,
the untrained network's guesses pull it onto one class, it never grows confident, and the
thresholds never rise (digits, 300 steps: accuracy 0.26, mask rate 1.0 throughout). So the
unsupervised weight ramps in over the first third of the run by default
(`ramp_fraction`), as FreeMatch's and SoftMatch's do, for the same reason.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from fewlabels import targets
from fewlabels.algorithms.base import MORE_LABELS, ConformanceCase, advice, masked_cross_entropy
from fewlabels.algorithms.fixmatch import FixMatch
from fewlabels.algorithms.registry import register
from fewlabels.replicas import gathered


def flexmatch_thresholds(counts, threshold, warmup: bool):
    """Class-wise thresholds from learning-effect counts (pure; FlexMatch equations 6-7).

    Args:
        counts: `(n_classes + 1,)` counts: index 0 the images with no confident prediction
            yet, index c + 1 those whose remembered prediction is class c.
        threshold: the fixed upper threshold.
        warmup: normalize by the unused count too while it is the largest.

    Returns:
        `(n_classes,)` thresholds.
    """
    counts = ops.cast(counts, "float32")
    per_class = counts[1:]
    denominator = ops.max(counts) if warmup else ops.max(per_class)
    beta = per_class / ops.maximum(denominator, 1.0)
    return threshold * beta / (2.0 - beta)


def _all_learned(algorithm) -> None:
    """Every class equally learned: every class-wise threshold is the full threshold."""
    n = algorithm.remembered.shape[0]
    algorithm.remembered.assign(np.arange(n, dtype="int32") % algorithm.n_classes)


@register
class FlexMatch(FixMatch):
    """FlexMatch.

    Args:
        threshold: the upper threshold (a class that is learned well gets it).
        lambda_u: the unsupervised weight.
        warmup_steps: linear ramp-up of the unsupervised weight.
        ramp_fraction: the share of the run over which the unsupervised weight ramps in
            (with `warmup_steps=0`). A third by default: the thresholds start permissive
            (every pseudo-label passes at first), and at full weight from the first step
            the untrained network's guesses collapse it onto one class.
        distribution_alignment: as in FixMatch.
        threshold_warmup: the paper's threshold warm-up (see the module docstring).
    """

    registry_name = "flexmatch"
    summary = "FixMatch with class-wise curriculum thresholds from the learning effect (2021)"
    conformance = ConformanceCase(mask_off=_all_learned)

    def __init__(self, threshold: float = 0.95, lambda_u: float = 1.0, warmup_steps: int = 0,
                 ramp_fraction: float = 1 / 3, distribution_alignment: bool = False,
                 threshold_warmup: bool = True, **kwargs) -> None:
        super().__init__(threshold=threshold, lambda_u=lambda_u, warmup_steps=warmup_steps,
                         ramp_fraction=ramp_fraction,
                         distribution_alignment=distribution_alignment, **kwargs)
        self.threshold_warmup = bool(threshold_warmup)

    def collapse_advice(self) -> str:
        """Its thresholds are class-wise already: distribution alignment, more labels."""
        return advice([*self._alignment_advice(), MORE_LABELS])

    def build_state(self, n_classes, n_unlabeled, student) -> None:
        super().build_state(n_classes, n_unlabeled, student)
        self.remembered = self.add_state("remembered", (max(n_unlabeled, 1),), -1, "int32")

    def class_thresholds(self):
        """The current `(n_classes,)` thresholds."""
        # A one-hot sum, not bincount: its length must be static under XLA (jit_compile).
        counts = ops.sum(ops.one_hot(self.remembered + 1, self.n_classes + 1), axis=0)
        return flexmatch_thresholds(counts, self.threshold, self.threshold_warmup)

    def unsupervised(self, weak, strong, batch, student) -> dict:
        probs = self.aligned(weak)
        confidence = ops.max(probs, axis=-1)
        predicted = ops.cast(ops.argmax(probs, axis=-1), "int32")
        index = ops.cast(batch["index"], "int32")
        # Remember the confident predictions first (the paper updates sigma, then masks).
        old = ops.take(self.remembered, index)
        new = ops.where(confidence > self.threshold, predicted, old)
        # Every replica's images, so that the memory stays one memory (fewlabels.replicas).
        self.remembered.assign(ops.scatter_update(self.remembered, gathered(index)[:, None],
                                                  gathered(new)))
        mask = targets.confidence_mask(probs, ops.take(self.class_thresholds(), predicted))
        hard = targets.hard_targets(probs)
        return {"loss": masked_cross_entropy(hard, strong, mask), "mask": mask,
                "pseudo_labels": predicted}

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold_warmup": self.threshold_warmup}
