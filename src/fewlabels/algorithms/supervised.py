"""Supervised-only training in the semi-supervised loop: the baseline every method must beat.

It sees the same labeled batches, model, optimizer and budget as the other algorithms and
ignores the unlabeled batch, so a comparison with it measures what the unlabeled data bought.
"""

from __future__ import annotations

from keras import ops

from fewlabels.algorithms.base import Algorithm
from fewlabels.algorithms.registry import register


@register
class Supervised(Algorithm):
    """The labeled loss alone (`lambda_u` is ignored)."""

    name_ = "supervised"
    summary = "labeled loss only: the baseline, trained by the same loop and budget"
    uses_strong = False
    has_unsupervised_term = False

    def unsupervised(self, weak, strong, batch, student) -> dict:
        zeros = ops.zeros_like(weak[:, 0])
        return {"loss": ops.sum(zeros), "mask": zeros,
                "pseudo_labels": ops.argmax(ops.stop_gradient(weak), axis=-1)}
