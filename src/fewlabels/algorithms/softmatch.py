"""SoftMatch (Chen et al., ICLR 2023): a soft, truncated-Gaussian weight instead of a mask.

Every pseudo-label counts, weighted by its confidence: full weight at or above the running
mean confidence mu_t, and a Gaussian fall-off below it, with the running variance sigma_t^2
(equation 7; running estimates with momentum 0.999, section 3.2). Predictions are first
uniformly aligned (UA, section 3.3): scaled by `(1/C) / p_model`, the running mean prediction,
so that no class dominates the pseudo-labels. Defaults follow the paper and USB: `lambda_u`
1, momentum 0.999, `n_sigma` 2 (the Gaussian's variance is sigma_t^2 / n_sigma^2), hard labels.
"""

from __future__ import annotations

from keras import ops

from fewlabels import targets
from fewlabels.algorithms.base import (
    MORE_LABELS,
    Algorithm,
    ConformanceCase,
    advice,
    ema_assign,
    masked_cross_entropy,
)
from fewlabels.algorithms.registry import register
from fewlabels.replicas import gathered


@register
class SoftMatch(Algorithm):
    """SoftMatch.

    Args:
        lambda_u: the unsupervised weight.
        warmup_steps: linear ramp-up of the unsupervised weight.
        ramp_fraction: the share of the run over which the unsupervised weight ramps in
            (with `warmup_steps=0`). A third by default: the thresholds start permissive
            (every pseudo-label passes at first), and at full weight from the first step
            the untrained network's guesses collapse it onto one class.
        momentum: the EMA momentum of the confidence statistics and `p_model`.
        n_sigma: the Gaussian's width in running standard deviations.
        uniform_alignment: align predictions to a uniform class distribution (UA).
    """

    registry_name = "softmatch"
    weak_is_target = True
    summary = "every pseudo-label weighted by a truncated Gaussian of its confidence (2023)"
    conformance = ConformanceCase(mask_off=None)  # soft weights are never exactly 0

    def __init__(self, lambda_u: float = 1.0, warmup_steps: int = 0,
                 ramp_fraction: float = 1 / 3, momentum: float = 0.999,
                 n_sigma: float = 2.0, uniform_alignment: bool = True, **kwargs) -> None:
        super().__init__(lambda_u=lambda_u, warmup_steps=warmup_steps,
                         ramp_fraction=ramp_fraction, **kwargs)
        self.momentum = float(momentum)
        self.n_sigma = float(n_sigma)
        self.uniform_alignment = bool(uniform_alignment)

    def collapse_advice(self) -> str:
        """It weighs every pseudo-label and aligns them already: more labels, or FixMatch's
        hard threshold."""
        return advice(["a hard threshold (--method fixmatch)", MORE_LABELS])

    def build_state(self, n_classes, n_unlabeled, student) -> None:
        super().build_state(n_classes, n_unlabeled, student)
        self.mu = self.add_state("mu", (), 1.0 / n_classes)
        self.variance = self.add_state("variance", (), 1.0)
        self.p_model = self.add_state("p_model", (n_classes,), 1.0 / n_classes)

    def unsupervised(self, weak, strong, batch, student) -> dict:
        probs = ops.stop_gradient(weak)
        if self.uniform_alignment:
            ema_assign(self.p_model, ops.mean(gathered(probs), axis=0), self.momentum)
            probs = targets.distribution_align(probs, self.p_model)  # to uniform
        confidence = ops.max(probs, axis=-1)
        every = gathered(confidence)  # the global batch's statistics (fewlabels.replicas)
        ema_assign(self.mu, ops.mean(every), self.momentum)
        ema_assign(self.variance, ops.var(every), self.momentum)
        weight = targets.truncated_gaussian_weight(
            probs, self.mu, self.variance / self.n_sigma**2 + 1e-8)
        hard = targets.hard_targets(probs)
        return {"loss": masked_cross_entropy(hard, strong, weight), "mask": weight,
                "pseudo_labels": ops.argmax(probs, axis=-1)}

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "n_sigma": self.n_sigma,
                "uniform_alignment": self.uniform_alignment}
