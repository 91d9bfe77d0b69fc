"""Supervised-only training in the semi-supervised loop: the baseline every method must beat.

It sees the same labeled batches, model, optimizer and budget as the other algorithms and
ignores the unlabeled batch, so a comparison with it measures what the unlabeled data bought.
The student does not even see the unlabeled views (`uses_weak = False`): BatchNorm's
statistics come from the labeled batch alone, and a step costs what a supervised step costs,
which keeps wall-clock comparisons fair.
"""

from __future__ import annotations

from keras import ops

from fewlabels.algorithms.base import Algorithm, ConformanceCase
from fewlabels.algorithms.registry import register


@register
class Supervised(Algorithm):
    """The labeled loss alone (`lambda_u` is ignored)."""

    registry_name = "supervised"
    summary = "labeled loss only: the baseline, trained by the same loop and budget"
    conformance = ConformanceCase(unsupervised=False)
    uses_strong = False
    uses_weak = False
    has_unsupervised_term = False

    def unsupervised(self, weak, strong, batch, student) -> dict:
        zeros = ops.zeros((ops.shape(batch["index"])[0],), dtype="float32")
        return {"loss": ops.sum(zeros), "mask": zeros,
                "pseudo_labels": ops.zeros_like(batch["index"])}
