"""`SemiSupervisedModel`: a `keras.Model` that wraps a backbone and delegates its loss.

It is built the way `keras.distillation.Distiller` is: the model owns the network and the
forward pass, and a pluggable object (here an `Algorithm` from the registry) computes the loss
in `compute_loss`. So `fit`, callbacks, progress bars, checkpoints, `evaluate` and `predict`
are plain Keras.

Training batches are `(inputs, labels)` with `inputs` a dict (see `fewlabels.ssl_data`):

- `labeled`: `(B, ...)` weak-augmented labeled images; `labels` their class indices;
- `weak`, `strong`: `(uB, ...)` two views of the same unlabeled images;
- `index`: each unlabeled image's position in the pool (per-sample algorithm state);
- `hidden`: its true label when a benchmark knows it, else -1 (monitoring only).

`call` makes one student pass over the concatenation of labeled, weak and strong views, so
that BatchNorm sees one batch. With `separate_weak_pass=True`, an algorithm that reads the
weak view only as targets (`Algorithm.weak_is_target`: FixMatch and its successors) gets it
from a pass of its own with no gradient, which saves its backward pass. Plain inputs
(arrays of images or rows) go straight through the backbone: `evaluate` and `predict` need
nothing special.

Logged every epoch as Keras metrics: `sup_loss`, `unsup_loss`, `mask_rate`,
`pseudo_label_accuracy` (over masked images with a known hidden label) and, per class,
`share_<c>`: the share of accepted pseudo-labels that went to class c.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops

from fewlabels.algorithms import Algorithm
from fewlabels.algorithms.base import ema_assign, warmed_up_momentum
from fewlabels.errors import FewLabelsWarning, InputError
from fewlabels.metrics import dominant_classes


@keras.saving.register_keras_serializable(package="fewlabels")
class SemiSupervisedModel(keras.Model):
    """A student network trained by a consistency-regularization algorithm.

    Args:
        backbone: a Keras model from inputs to class probabilities (softmax outputs).
        algorithm: an `Algorithm` (see `fewlabels.algorithms.create`).
        n_unlabeled: the size of the unlabeled pool (for per-sample algorithm state).
        ema_momentum: keep an exponential moving average of the backbone's trainable
            weights with this momentum (0: none), updated every training step. It lives in
            this model's variables, so it is checkpointed and resumed with the rest of the
            state; `swap_ema()` swaps it in and out for evaluation, `finalize_ema()` copies
            it into the backbone at the end. (Keras's optimizer `use_ema` would copy the
            average into the weights at the end of *every* `fit` call, which breaks a run
            resumed as more than one call.)
        ema_warmup: the pace of the average's warm-up: its momentum at step `n` is
            `min(ema_momentum, n / (n + ema_warmup))` (`warmed_up_momentum`), so that it
            follows the student from the first steps. The default 9 is TensorFlow's
            `ExponentialMovingAverage` rule; 0 keeps `ema_momentum` from the first step,
            which leaves the average near the random initial weights for about
            `1 / (1 - ema_momentum)` steps.
        separate_weak_pass: for algorithms with `weak_is_target`, pass the weak view on its
            own, with no gradient, instead of in the joint pass: faster steps
            (docs/benchmark-speed.md), but BatchNorm then normalizes the weak view by its own
            batch statistics, not those of the whole step (USB's `use_cat=False`). Off by
            default, since that can cost accuracy (docs/consistency.md).
        ema_targets: for algorithms with `weak_is_target`, the weak view's outputs (the
            pseudo-labels) come from the weight average in inference mode, in a pass of its
            own with no gradient, instead of from the network being trained (the EMA
            teacher of Mean Teacher, for FixMatch's targets). Needs `ema_momentum > 0`.

    Example:
    ```python
    from fewlabels.algorithms import create
    from fewlabels.models import build_cnn

    model = SemiSupervisedModel(build_cnn((28, 28, 1), 10), create("fixmatch"), n_unlabeled)
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9, nesterov=True))
    model.fit(stream, steps_per_epoch=100, epochs=10)     # stream: fewlabels.ssl_data
    model.predict(x_test)
    ```
    """

    def __init__(self, backbone: keras.Model, algorithm: Algorithm, n_unlabeled: int = 0,
                 *, ema_momentum: float = 0.0, separate_weak_pass: bool = False,
                 ema_warmup: float = 9.0, ema_targets: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(algorithm, Algorithm):
            raise InputError(f"algorithm must be a fewlabels Algorithm; got {algorithm!r}.")
        self.backbone = backbone
        self.algorithm = algorithm
        self.n_unlabeled = int(n_unlabeled)
        self.separate_weak_pass = bool(separate_weak_pass)
        self.ema_targets = bool(ema_targets)
        self.n_classes = int(backbone.output_shape[-1])
        # Sub-models and algorithm state are built here, before fit (JAX maps no variable
        # created inside the compiled step).
        algorithm.build_state(self.n_classes, self.n_unlabeled, backbone)
        # Every replica makes the same update of the step and the average (the weights are
        # in sync); the first replica's is kept (fewlabels.replicas).
        self.step = self.add_weight(shape=(), initializer="zeros", dtype="int32",
                                    trainable=False, name="ssl_step",
                                    aggregation="only_first_replica")
        if not 0.0 <= ema_momentum < 1.0:
            raise InputError(f"ema_momentum must be in [0, 1); got {ema_momentum!r}.")
        self.ema_momentum = float(ema_momentum)
        if not ema_warmup >= 0:
            raise InputError(f"ema_warmup must be >= 0; got {ema_warmup!r}.")
        self.ema_warmup = float(ema_warmup)
        if self.ema_targets and self.ema_momentum == 0:
            raise InputError("ema_targets takes the pseudo-labels from the weight average: "
                             "it needs ema_momentum > 0.")
        self.ema_weights = []
        if self.ema_momentum > 0:
            for i, v in enumerate(backbone.trainable_variables):
                shadow = self.add_weight(shape=v.shape, initializer="zeros", dtype=v.dtype,
                                         trainable=False, name=f"ema_{i}",
                                         aggregation="only_first_replica")
                shadow.assign(keras.ops.convert_to_numpy(v))  # a copy: JAX donates each buffer
                self.ema_weights.append(shadow)
        self.supervised_loss = keras.losses.SparseCategoricalCrossentropy()
        self.soft_loss = keras.losses.CategoricalCrossentropy()
        self.sup_tracker = keras.metrics.Mean(name="sup_loss")
        self.unsup_tracker = keras.metrics.Mean(name="unsup_loss")
        self.mask_tracker = keras.metrics.Mean(name="mask_rate")
        self.pseudo_accuracy = keras.metrics.Mean(name="pseudo_label_accuracy")
        self.share_trackers = [keras.metrics.Sum(name=f"accepted_{c}")
                               for c in range(self.n_classes)]

    def build(self, input_shape=None) -> None:
        """Nothing to build: the backbone and the algorithm's state exist already."""
        self.built = True

    # -- forward ---------------------------------------------------------------------------

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict):
            return self.backbone(inputs, training=training)
        if self.algorithm.owns_forward:
            return self.algorithm.forward(self.backbone, inputs, training)
        algorithm = self.algorithm
        separate = algorithm.uses_weak and algorithm.weak_is_target and (
            self.separate_weak_pass or self.ema_targets)
        joint_weak = algorithm.uses_weak and not separate
        parts = [inputs["labeled"]]
        if joint_weak:
            parts.append(inputs["weak"])
        if algorithm.uses_strong:
            parts.append(inputs["strong"])
        probs = self.backbone(ops.concatenate(parts, axis=0), training=training)
        n_labeled = ops.shape(inputs["labeled"])[0]
        n_weak = ops.shape(inputs["weak"])[0] if joint_weak else 0
        out = {"labeled": probs[:n_labeled], "weak": probs[n_labeled:n_labeled + n_weak]}
        if algorithm.uses_strong:
            out["strong"] = probs[n_labeled + n_weak:]
        if separate and self.ema_targets:  # the average, in inference mode, as the teacher
            with keras.StatelessScope(state_mapping=self._ema_pairs_reversed()):
                out["weak"] = ops.stop_gradient(self.backbone(inputs["weak"], training=False))
        elif separate:  # targets only: no backward pass
            out["weak"] = ops.stop_gradient(self.backbone(inputs["weak"], training=training))
        return out

    def _ema_pairs_reversed(self) -> list:
        """`(weight, average)` pairs: the backbone's weights read as their averages."""
        return [(v, shadow.value) for shadow, v in self._ema_pairs()]

    # -- the step --------------------------------------------------------------------------

    def compile(self, *args, loss=None, **kwargs) -> None:
        """Keras's `compile`, without a `loss`: the algorithm is the loss."""
        if loss is not None:
            raise InputError(
                "SemiSupervisedModel takes its loss from its algorithm; compile it without "
                f"loss= (got {loss!r}). Choose the loss by choosing the algorithm.")
        super().compile(*args, **kwargs)

    if keras.backend.backend() == "jax":
        def train_step(self, state, data):
            """Keras's step, then `after_step` on the updated weights (stateless on JAX)."""
            logs, state = super().train_step(state, data)
            trainable, non_trainable, optimizer_variables, metrics = state
            mapping = [*zip(self.trainable_variables, trainable, strict=True),
                       *zip(self.non_trainable_variables, non_trainable, strict=True)]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                self.after_step()
            non_trainable = [scope.get_current_value(v) if scope.get_current_value(v)
                             is not None else value
                             for v, value in zip(self.non_trainable_variables, non_trainable,
                                                 strict=True)]
            return logs, (trainable, non_trainable, optimizer_variables, metrics)
    else:
        def train_step(self, data):
            """Keras's step, then `after_step` on the updated weights."""
            logs = super().train_step(data)
            self.after_step()
            return logs

    def after_step(self) -> None:
        """What follows a training step, once the optimizer has updated the weights: the
        step counter, the algorithm's `after_step` (a teacher's average) and the weight
        average. `compute_loss` only computes, as Keras's `Distiller` does."""
        self.step.assign_add(1)
        self.algorithm.after_step(self.backbone, self.step)
        pairs = self._ema_pairs()
        if pairs:
            momentum = warmed_up_momentum(self.ema_momentum, self.step, self.ema_warmup)
            for shadow, v in pairs:
                ema_assign(shadow, v, momentum)

    # -- loss ------------------------------------------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict):  # evaluate() on plain data: the supervised loss
            return self.supervised_loss(y, y_pred, sample_weight=sample_weight)
        terms = self.loss_terms(x, y, y_pred)
        self._track(x, terms)
        return terms["total"]

    def loss_terms(self, x, y, y_pred) -> dict:
        """The supervised and unsupervised terms of one batch, and the total loss.

        Returns:
            A dict: `supervised`, `unsupervised` (unweighted), `weight` (the current
            unsupervised weight), `total`, `mask` and `pseudo_labels`.
        """
        if "labeled_targets" in y_pred:  # soft (mixed) targets from an algorithm's forward
            supervised = self.soft_loss(y_pred["labeled_targets"], y_pred["labeled"])
        else:
            supervised = self.supervised_loss(y, y_pred["labeled"])
        batch = {**x, "outputs": y_pred} if self.algorithm.owns_forward else x
        unsup = self.algorithm.unsupervised(y_pred["weak"], y_pred.get("strong"), batch,
                                            self.backbone)
        weight = self.algorithm.weight(self.step)
        return {"supervised": supervised, "unsupervised": unsup["loss"], "weight": weight,
                "total": supervised + weight * unsup["loss"], "mask": unsup["mask"],
                "pseudo_labels": unsup["pseudo_labels"]}

    def _track(self, x, terms) -> None:
        mask = ops.stop_gradient(terms["mask"])
        self.sup_tracker.update_state(terms["supervised"])
        if not self.algorithm.has_unsupervised_term:  # its batches may hold no unlabeled image
            return
        self.unsup_tracker.update_state(terms["unsupervised"])
        self.mask_tracker.update_state(ops.mean(mask))
        labels = ops.cast(terms["pseudo_labels"], "int32")
        accepted = ops.one_hot(labels, self.n_classes) * mask[:, None]
        counts = ops.sum(accepted, axis=0)
        for c, tracker in enumerate(self.share_trackers):
            tracker.update_state(counts[c])
        hidden = ops.cast(x.get("hidden", -ops.ones_like(labels)), "int32")
        known = ops.cast(hidden >= 0, mask.dtype) * ops.cast(mask > 0, mask.dtype)
        correct = ops.cast(ops.equal(labels, hidden), mask.dtype)
        self.pseudo_accuracy.update_state(correct, sample_weight=known)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        results = super().compute_metrics(x, y, y_pred, sample_weight)
        total = sum(t.result() for t in self.share_trackers)
        for c, tracker in enumerate(self.share_trackers):
            results.pop(tracker.name, None)
            results[f"share_{c}"] = tracker.result() / ops.maximum(total, 1.0)
        return results

    has_hidden_labels = True
    """Whether the unlabeled rows carry hidden labels (`ConsistencyTraining` sets it)."""

    def unmeasured_metrics(self) -> set[str]:
        """The logged metrics that measure nothing in this run, to leave out of the history
        and the epoch line: the unsupervised ones for a supervised run, and the pseudo-label
        accuracy when no unlabeled row has a hidden label."""
        if not self.algorithm.has_unsupervised_term:
            return {"unsup_loss", "mask_rate", "pseudo_label_accuracy",
                    *(f"share_{c}" for c in range(self.n_classes))}
        return set() if self.has_hidden_labels else {"pseudo_label_accuracy"}

    # -- the weight average ----------------------------------------------------------------

    def swap_ema(self) -> None:
        """Swap the backbone's trainable weights with their moving average (no-op without)."""
        for shadow, v in self._ema_pairs():
            current = keras.ops.convert_to_numpy(v.value)
            v.assign(shadow.value)
            shadow.assign(current)

    def finalize_ema(self) -> None:
        """Copy the moving average into the backbone's weights (the model to keep)."""
        for shadow, v in self._ema_pairs():
            v.assign(shadow.value)

    def _ema_pairs(self) -> list:
        """`(average, weight)` pairs; none without an average."""
        if not self.ema_weights:
            return []
        return list(zip(self.ema_weights, self.backbone.trainable_variables, strict=True))

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict:
        return {
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "algorithm": keras.saving.serialize_keras_object(self.algorithm),
            "n_unlabeled": self.n_unlabeled,
            "ema_momentum": self.ema_momentum,
            "ema_warmup": self.ema_warmup,
            "separate_weak_pass": self.separate_weak_pass,
            "ema_targets": self.ema_targets,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["algorithm"] = keras.saving.deserialize_keras_object(config["algorithm"])
        return cls(**config)


class CollapseMonitor(keras.callbacks.Callback):
    """Warn when pseudo-labels collapse onto a class, or the mask rate stays at 0.

    It reads the epoch logs of a `SemiSupervisedModel` (`mask_rate`, `share_<c>`). A class
    that dominates the accepted pseudo-labels (`fewlabels.metrics.dominant_classes`) for
    `patience` epochs in a row is named; so is a mask rate of 0 for `patience` epochs.
    The messages are also kept in `messages`.

    Args:
        prior: the labeled class distribution.
        classes: class names, for the messages.
        patience: epochs in a row before warning.
        advice: what to try, from the algorithm (`Algorithm.collapse_advice`): never
            what the run already does.
    """

    def __init__(self, prior, classes, patience: int = 3, advice: str = "") -> None:
        super().__init__()
        self.prior = np.asarray(prior, dtype=float)
        self.classes = list(classes)
        self.advice = advice
        self.patience = patience
        self.over = np.zeros(len(self.prior), dtype=int)
        self.zero_mask = 0
        self.messages: list[str] = []

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        if "mask_rate" not in logs:
            return
        mask_rate = float(logs["mask_rate"])
        self.zero_mask = self.zero_mask + 1 if mask_rate == 0 else 0
        if self.zero_mask == self.patience:
            self._warn(f"epoch {epoch + 1}: the mask rate has been 0 for {self.patience} "
                       "epochs: no unlabeled image passes the threshold, so the unlabeled "
                       "data teaches nothing. Lower the threshold, or train longer.")
        shares = np.array([float(logs.get(f"share_{c}", 0.0)) for c in range(len(self.prior))])
        over = np.zeros(len(self.prior), dtype=bool)
        if mask_rate > 0:
            over[dominant_classes(shares, self.prior)] = True
        self.over = np.where(over, self.over + 1, 0)
        for c in np.flatnonzero(self.over == self.patience):
            self._warn(
                f"epoch {epoch + 1}: pseudo-labels collapse onto class {self.classes[c]!r} "
                f"({shares[c]:.0%} of accepted pseudo-labels; its labeled share is "
                f"{self.prior[c]:.0%}) for {self.patience} epochs, a sign of confirmation "
                f"bias. {self.advice}".rstrip()
            )

    def get_state(self) -> dict:
        """The counters and messages so far (saved in checkpoints)."""
        return {"over": self.over.tolist(), "zero_mask": self.zero_mask,
                "messages": self.messages}

    def set_state(self, state: dict) -> None:
        """Continue from `get_state()`'s record (a resumed run)."""
        self.over = np.asarray(state["over"], dtype=int)
        self.zero_mask = int(state["zero_mask"])
        self.messages = list(state["messages"])

    def _warn(self, message: str) -> None:
        self.messages.append(message)
        warnings.warn(message, FewLabelsWarning, stacklevel=2)


class EMAValidation(keras.callbacks.Callback):
    """Score the validation data each epoch with the weight average swapped in.

    Args:
        validation: a `fewlabels.training.stage.ValidationLoss` (it fills `val_loss` and
            `val_accuracy`).
    """

    def __init__(self, validation) -> None:
        super().__init__()
        self.validation = validation

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.validation.set_model(self.model)
        self.model.swap_ema()
        try:
            self.validation.on_epoch_end(epoch, logs)
        finally:
            self.model.swap_ema()
