"""IOMatch (Li et al., ICCV 2023): FixMatch that learns from the pool's foreign items too.

An unlabeled pool gathered in the wild holds items of classes no label names. FixMatch gives
each a known class as soon as the network is confident, and learns it. IOMatch adds two heads
on a projection of the network's features, trained beside its classifier:

- one-vs-all heads (OpenMatch's, Saito et al. 2021): for each class, "is this item of the
  class or not", learned from the labeled items only;
- an open-set head with `n_classes + 1` outputs, the last one "foreign".

For each unlabeled item, with `p` the (distribution-aligned) weak-view probabilities and
`in_k`, `out_k = 1 - in_k` the one-vs-all heads' weak-view answers:

    outlier score   s = sum_k p_k out_k          (`outlier_scores`)
    closed-set loss FixMatch's, on items with max p >= threshold and s < 0.5
    open-set target q = (p_1 in_1, ..., p_K in_K, s)   (`open_set_targets`), which trains
                    the open-set head on the strong view where max q >= outlier_threshold

So foreign-looking items are not pseudo-labeled as a known class; they train the shared
features to set them apart instead of being thrown away (a filter at few labels throws away
the uncertain known items too: docs/open-set.md). The classifier that predicts is the
network's own: the heads are training aids, dropped when the fit ends. Defaults are the
paper's (its code: `p_cutoff` 0.95, `q_cutoff` 0.5, distribution alignment on, both extra
losses at weight 1, a 128-wide projection), with two changes for the few hundred steps a CPU
budget buys (the paper trains 2^18 steps), both from pilots on digits images
(`ConsistencyTraining(method="iomatch", budget=Budget(200))` with 5 labels a class, and
`Budget(80, steps_per_epoch=40), batch_size=16, uratio=2` with 10; seed 0; Intel Xeon family
6 model 167, 2 cores, 2026-12-06):

- the one-vs-all heads read the projection through `stop_gradient`: their loss on a few
  dozen labeled items, pulling on the shared features, cost FixMatch's accuracy (0.79
  against 0.92 at 200 steps);
- the open-set head starts learning after `open_after` of the steps (the paper: after its
  first epoch), once the one-vs-all heads answer: before that its targets call every item
  half foreign (0.34 against 0.64 at 80 steps).
"""

from __future__ import annotations

import types

import keras
from keras import ops

from fewlabels import targets
from fewlabels.algorithms.base import ConformanceCase, masked_cross_entropy
from fewlabels.algorithms.fixmatch import FixMatch
from fewlabels.algorithms.registry import register
from fewlabels.errors import InputError
from fewlabels.replicas import replica_share

INLIER_BELOW = 0.5
"""An unlabeled item with an outlier score below this may be pseudo-labeled (IOMatch's
`in_mask`)."""


def one_vs_all(logits):
    """`(out, in)`: each class's one-vs-all probabilities from `(batch, 2 * n_classes)`
    logits, the first half "not the class", the second "the class" (pure)."""
    n = ops.shape(logits)[-1] // 2
    pairs = ops.softmax(ops.stack([logits[:, :n], logits[:, n:]], axis=1), axis=1)
    return pairs[:, 0, :], pairs[:, 1, :]


def outlier_scores(probs, outside):
    """How foreign each item looks: `sum_k p_k out_k`, the chance that it is not of the class
    it is predicted to be, in [0, 1] (pure; no gradient).

    Args:
        probs: `(batch, n_classes)` class probabilities.
        outside: `(batch, n_classes)` the one-vs-all heads' "not the class" probabilities.
    """
    return ops.stop_gradient(ops.sum(probs * outside, axis=-1))


def open_set_targets(probs, inside):
    """IOMatch's `n_classes + 1` targets: `p_k in_k` for each known class, then the rest,
    `sum_k p_k (1 - in_k)`, for "foreign" (pure; they sum to 1; no gradient)."""
    known = probs * inside
    foreign = ops.sum(probs, axis=-1, keepdims=True) - ops.sum(known, axis=-1, keepdims=True)
    return ops.stop_gradient(ops.concatenate([known, foreign], axis=-1))


def one_vs_all_loss(logits, labels):
    """OpenMatch's supervised loss of the one-vs-all heads: `-log in_y`, plus the hardest
    other class's `-log out_k`, averaged over the batch (pure).

    Args:
        logits: `(batch, 2 * n_classes)` one-vs-all logits of labeled items.
        labels: `(batch,)` their class indices.
    """
    outside, inside = one_vs_all(logits)
    onehot = ops.one_hot(ops.cast(labels, "int32"), ops.shape(inside)[-1], dtype=inside.dtype)
    positive = -ops.sum(onehot * ops.log(inside + 1e-8), axis=-1)
    negative = ops.max((1.0 - onehot) * -ops.log(outside + 1e-8), axis=-1)
    return replica_share(ops.mean(positive + negative))


def _features_of(student):
    """`(body, head)`: the network up to its output layer, and that layer."""
    from fewlabels.models.body import OUTPUT_LAYER, network_body

    try:
        return network_body(student), student.get_layer(OUTPUT_LAYER)
    except InputError as err:
        raise InputError(f"iomatch adds heads on the network's features, read below its "
                         f"output layer: {err}") from err


def _every_item_known(algorithm) -> None:
    """One-vs-all heads that call every item known (a constant projection, weights for "the
    class" over "not the class"), so that the mask follows the confidence alone, whatever
    the heads' random start."""
    import numpy as np

    width, n = algorithm.projection, algorithm.n_classes
    algorithm.project_out.kernel.assign(np.zeros(algorithm.project_out.kernel.shape, "float32"))
    algorithm.project_out.bias.assign(np.ones(width, "float32"))
    algorithm.ova_head.kernel.assign(
        np.concatenate([-np.ones((width, n)), np.ones((width, n))], axis=1).astype("float32"))


@register
class IOMatch(FixMatch):
    """IOMatch.

    Args:
        threshold: the confidence a weak-view prediction needs to become a pseudo-label.
        lambda_u: the weight of the unlabeled terms (the heads' losses included).
        warmup_steps: linear ramp-up of the unlabeled weight.
        distribution_alignment: align weak-view predictions to a uniform class distribution
            before thresholding (on, as in the paper).
        outlier_threshold: the largest open-set target an item needs to train the open-set
            head.
        lambda_ova: the weight of the one-vs-all heads' loss on the labeled items.
        lambda_open: the weight of the open-set head's loss on the unlabeled items.
        projection: the width of the projection the extra heads read.
        open_after: the share of the fit's planned steps before the open-set head starts
            to learn, while the one-vs-all heads learn what the labeled classes look like
            (the paper waits one epoch of 256).
    """

    registry_name = "iomatch"
    # it reads the weak view only as targets, but makes its own pass (owns_forward), so the
    # model's separate weak pass, which weak_is_target allows, does not apply
    weak_is_target = False
    owns_forward = True
    summary = ("FixMatch with an outlier class: foreign-looking unlabeled items are set "
               "apart, not pseudo-labeled (2023)")
    # the one-vs-all heads learn from the labels whatever the mask: no all-off state
    conformance = ConformanceCase(mask_on=_every_item_known, mask_off=None)

    def __init__(self, threshold: float = 0.95, lambda_u: float = 1.0, warmup_steps: int = 0,
                 distribution_alignment: bool = True, *, outlier_threshold: float = 0.5,
                 lambda_ova: float = 1.0, lambda_open: float = 1.0, projection: int = 128,
                 open_after: float = 0.25, **kwargs) -> None:
        super().__init__(threshold=threshold, lambda_u=lambda_u, warmup_steps=warmup_steps,
                         distribution_alignment=distribution_alignment, **kwargs)
        if not 0.0 <= outlier_threshold <= 1.0:
            raise InputError(f"outlier_threshold must be in [0, 1]; got "
                             f"{outlier_threshold!r}.")
        for name, value in (("lambda_ova", lambda_ova), ("lambda_open", lambda_open)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InputError(f"{name} must be a number >= 0; got {value!r}.")
        if isinstance(projection, bool) or not isinstance(projection, int) or projection < 1:
            raise InputError(f"projection must be an integer >= 1; got {projection!r}.")
        if isinstance(open_after, bool) or not isinstance(open_after, int | float) \
                or not 0.0 <= open_after < 1.0:
            raise InputError(f"open_after must be in [0, 1); got {open_after!r}.")
        self.open_after = float(open_after)
        self.open_from = 0
        self.outlier_threshold = float(outlier_threshold)
        self.lambda_ova = float(lambda_ova)
        self.lambda_open = float(lambda_open)
        self.projection = projection
        self.network = types.SimpleNamespace(body=None, head=None)  # not tracked: the
        # student's own layers, which its model saves

    def plan(self, total_steps: int) -> None:
        """The unlabeled weight's ramp, and the step from which the open-set head learns."""
        super().plan(total_steps)
        self.open_from = round(self.open_after * total_steps)

    def build_state(self, n_classes, n_unlabeled, student) -> None:
        super().build_state(n_classes, n_unlabeled, student)
        self.open_on = self.add_state("open_on", (), 0.0 if self.open_from else 1.0)
        self.network.body, self.network.head = _features_of(student)
        width = int(self.network.body.output_shape[-1])
        self.project_hidden = keras.layers.Dense(width, activation="relu",
                                                 name="iomatch_hidden")
        self.project_out = keras.layers.Dense(self.projection, name="iomatch_projection")
        self.ova_head = keras.layers.Dense(2 * n_classes, use_bias=False,
                                           kernel_initializer="glorot_normal",
                                           name="iomatch_one_vs_all")
        self.open_head = keras.layers.Dense(n_classes + 1, kernel_initializer="glorot_normal",
                                            name="iomatch_open_set")
        self.project_hidden.build((None, width))
        self.project_out.build((None, width))
        self.ova_head.build((None, self.projection))
        self.open_head.build((None, self.projection))

    def forward(self, student, inputs, training) -> dict:
        labeled, weak, strong = inputs["labeled"], inputs["weak"], inputs["strong"]
        n_l, n_u = ops.shape(labeled)[0], ops.shape(weak)[0]
        features = self.network.body(ops.concatenate([labeled, weak, strong], axis=0),
                                     training=training)
        probs = self.network.head(features)
        projected = self.project_out(self.project_hidden(features))
        ova = self.ova_head(ops.stop_gradient(projected))  # see the module docstring
        return {"labeled": probs[:n_l], "weak": probs[n_l:n_l + n_u],
                "strong": probs[n_l + n_u:], "ova_labeled": ova[:n_l],
                "ova_weak": ova[n_l:n_l + n_u],
                "open_strong": self.open_head(projected[n_l + n_u:])}

    def unsupervised(self, weak, strong, batch, student) -> dict:
        out = batch["outputs"]
        probs = self.aligned(weak)
        outside, inside = one_vs_all(ops.stop_gradient(out["ova_weak"]))
        inlier = ops.cast(outlier_scores(probs, outside) < INLIER_BELOW, probs.dtype)
        mask = targets.confidence_mask(probs, self.threshold) * inlier
        hard = targets.hard_targets(probs)
        q = open_set_targets(probs, inside)
        open_mask = targets.confidence_mask(q, self.outlier_threshold)
        open_loss = keras.losses.CategoricalCrossentropy(from_logits=True)(
            q, out["open_strong"], sample_weight=open_mask)
        loss = (masked_cross_entropy(hard, strong, mask)
                + self.lambda_open * self.open_on * open_loss
                + self.lambda_ova * one_vs_all_loss(out["ova_labeled"],
                                                    batch["batch_labels"]))
        return {"loss": loss, "mask": mask, "pseudo_labels": ops.argmax(hard, axis=-1)}

    def after_step(self, student, step) -> None:
        self.open_on.assign(ops.cast(step >= self.open_from, "float32"))

    def get_config(self) -> dict:
        return {**super().get_config(), "open_after": self.open_after,
                "outlier_threshold": self.outlier_threshold,
                "lambda_ova": self.lambda_ova, "lambda_open": self.lambda_open,
                "projection": self.projection}
