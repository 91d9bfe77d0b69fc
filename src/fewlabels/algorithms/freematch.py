"""FreeMatch (Wang et al., ICLR 2023): self-adaptive thresholds, and a fairness term.

The threshold follows the model's own confidence instead of a fixed value (section 3.2):

    tau_t    = m tau_{t-1} + (1 - m) mean_b max(p_b)           global, starts at 1/C
    p~_t(c)  = m p~_{t-1}(c) + (1 - m) mean_b p_b(c)            class-wise, start at 1/C
    T_t(c)   = tau_t * p~_t(c) / max_c p~_t(c)                  (equation 6, MaxNorm)

with m = 0.999. The self-adaptive fairness term (section 3.3) pushes the masked strong-view
predictions toward a balanced class histogram; `lambda_f` weighs it (0.01, as in USB).
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
from fewlabels.replicas import gathered, replica_share


def freematch_thresholds(tau, p_model):
    """FreeMatch's class-wise thresholds `tau * p_model / max(p_model)` (pure)."""
    return tau * p_model / ops.max(p_model)


def fairness_loss(strong, mask, p_model, label_hist, epsilon: float = 1e-12):
    """FreeMatch's self-adaptive fairness term on the masked strong-view predictions.

    The running class distribution (normalized by the running histogram) is the target; the
    batch's mean masked prediction (normalized by its own histogram) is pulled toward it.
    Returns the negative cross-entropy, as in the reference implementation, so minimizing it
    rewards predictions spread like the target.
    """
    weights = mask[:, None]
    n = ops.maximum(ops.sum(mask), 1.0)
    mean_probs = ops.sum(strong * weights, axis=0) / n
    hist = ops.sum(ops.one_hot(ops.argmax(strong, -1), ops.shape(strong)[-1]) * weights,
                   axis=0) / n
    target = ops.stop_gradient(p_model / ops.maximum(label_hist, epsilon))
    target = target / ops.sum(target)
    scaled = mean_probs * ops.stop_gradient(ops.where(hist > 0, 1.0 / ops.maximum(hist,
                                                                                   epsilon), 0.0))
    scaled = scaled / ops.maximum(ops.sum(scaled), epsilon)
    loss = ops.sum(target * ops.log(scaled + epsilon))
    return ops.where(ops.sum(mask) > 0, loss, 0.0)


def _threshold_at_0_9(algorithm) -> None:
    """A learned global threshold of 0.9: uniform predictions are all masked off."""
    algorithm.tau.assign(0.9)


@register
class FreeMatch(Algorithm):
    """FreeMatch.

    Args:
        lambda_u: the unsupervised weight.
        warmup_steps: linear ramp-up of the unsupervised weight.
        ramp_fraction: the share of the run over which the unsupervised weight ramps in
            (with `warmup_steps=0`). A third by default: the thresholds start permissive
            (every pseudo-label passes at first), and at full weight from the first step
            the untrained network's guesses collapse it onto one class.
        momentum: the EMA momentum of the threshold statistics.
        lambda_f: the weight of the fairness term (0 turns it off).
    """

    registry_name = "freematch"
    weak_is_target = True
    summary = "FixMatch with self-adaptive global and class-wise thresholds (2023)"
    conformance = ConformanceCase(mask_off=_threshold_at_0_9)

    def __init__(self, lambda_u: float = 1.0, warmup_steps: int = 0,
                 ramp_fraction: float = 1 / 3, momentum: float = 0.999,
                 lambda_f: float = 0.01, **kwargs) -> None:
        super().__init__(lambda_u=lambda_u, warmup_steps=warmup_steps,
                         ramp_fraction=ramp_fraction, **kwargs)
        self.momentum = float(momentum)
        self.lambda_f = float(lambda_f)

    def collapse_advice(self) -> str:
        """Its thresholds adapt per class already: a stronger fairness term, more labels."""
        return advice(["a larger fairness weight (--lambda-f)", MORE_LABELS])

    def build_state(self, n_classes, n_unlabeled, student) -> None:
        super().build_state(n_classes, n_unlabeled, student)
        self.tau = self.add_state("tau", (), 1.0 / n_classes)
        self.p_model = self.add_state("p_model", (n_classes,), 1.0 / n_classes)
        self.label_hist = self.add_state("label_hist", (n_classes,), 1.0 / n_classes)

    def unsupervised(self, weak, strong, batch, student) -> dict:
        probs = ops.stop_gradient(weak)
        predicted = ops.argmax(probs, axis=-1)
        every = gathered(probs)  # the global batch's statistics (fewlabels.replicas)
        ema_assign(self.tau, ops.mean(ops.max(every, axis=-1)), self.momentum)
        ema_assign(self.p_model, ops.mean(every, axis=0), self.momentum)
        ema_assign(self.label_hist,
                   ops.mean(ops.one_hot(ops.argmax(every, axis=-1), self.n_classes), axis=0),
                   self.momentum)
        thresholds = freematch_thresholds(self.tau, self.p_model)
        mask = targets.confidence_mask(probs, ops.take(thresholds, predicted))
        hard = targets.hard_targets(probs)
        loss = masked_cross_entropy(hard, strong, mask)
        if self.lambda_f:
            loss = loss + self.lambda_f * replica_share(
                fairness_loss(strong, mask, self.p_model, self.label_hist))
        return {"loss": loss, "mask": mask, "pseudo_labels": predicted}

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "lambda_f": self.lambda_f}
