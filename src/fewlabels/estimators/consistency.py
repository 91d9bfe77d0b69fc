"""Consistency training (FixMatch and its family) as a scikit-learn-style estimator.

`ConsistencyTraining(method="fixmatch").fit(X, y)` builds the network (an MLP for rows, the
CNN or WRN-28-2 for images, or a transfer backbone), wraps it in a `SemiSupervisedModel` with
the algorithm, and trains it with `keras.Model.fit` on the `ssl_stream` of labeled batches
and weak/strong unlabeled views (tabular noise for rows). Evaluation and saving use the
weights' moving average. `history_` holds every epoch's `sup_loss`, `unsup_loss`,
`mask_rate`, `share_<c>` and `pseudo_label_accuracy` (with `y_hidden`); warnings name a
class the pseudo-labels collapse onto, and a mask rate stuck at 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fewlabels import params as p
from fewlabels.estimators.base import Estimator
from fewlabels.estimators.pool import check_pool, split_validation
from fewlabels.models.chooser import build_network, check_model_param
from fewlabels.views import TABULAR_VIEWS
from fewlabels.views.augment import POLICIES, with_policy_options

if TYPE_CHECKING:
    from fewlabels.data.folders import ImageFiles
    from fewlabels.training.checkpoint import CheckpointPolicy


class ConsistencyTraining(Estimator):
    """A classifier trained by a consistency-regularization algorithm (FixMatch, ...).

    Args:
        method: a registered algorithm: `fewlabels.algorithms.names()` lists them
            (`fewlabels methods` on the command line).
        algorithm_params: the algorithm's own hyperparameters, such as `{"threshold":
            0.9}`; unknown names are an error that lists the accepted ones.
        model: the network, as for `SelfTraining`: `"auto"` (MLP for rows, CNN for images,
            transfer with `backbone`), `"mlp"`, `"cnn"`, `"wrn"` or `"transfer"`.
        backbone: a `keras.applications` name (or `"cnn"`/`"wrn"`) for a transfer model.
        weights: the backbone's weights: `"imagenet"`, a path, or `"none"` (random: the
            whole network trains).
        input_size: the side images are resized to inside a transfer model.
        head_units: transfer models: units of the head's hidden Dense layer.
        hidden_units: `"mlp"`: widths of the hidden layers.
        cnn_widths: `"cnn"`: filters of its stages (two 3x3 convolutions each); the cost
            per image grows with the square of the widths.
        activation: `"mlp"`: activation of the hidden layers.
        dropout: dropout rate (MLP hidden layers, CNN and transfer heads).
        weak: the weak view: an image policy (`"weak"`, `"classic"`, `"none"`, ...) or, for
            rows, `"noise"`; `"auto"` picks `"weak"` for images and `"noise"` for rows.
        strong: the strong view: `"strong"` for images, `"swap"` for rows (`"auto"`).
        augment_params: options of the image views' policies
            (`fewlabels.views.augment.build_policy`): `horizontal_flip=False` for digits and
            text keeps the weak view from mirroring them; `rotation`, `zoom`, ... for
            `classic`.
        noise: rows: Gaussian noise of the views, as a fraction of each feature's std.
        swap_rate: rows: the share of cells the strong view swaps between rows.
        batch_size: labeled images per step (B).
        uratio: unlabeled images per labeled one (the step has `uratio * B` unlabeled).
        steps: optimizer steps in all.
        budget_s: a wall-clock budget for training, in seconds, instead of `steps`: the
            step count is sized to fill it from a throwaway fit of three epochs with the
            same settings (the later two timed, their validation and logging included; the
            fit's setup and compile taken off the budget), and kept in `n_steps_` and the
            checkpoints, so a resumed run keeps it.
        steps_per_epoch: steps between two epochs' logs, validation and warnings.
        optimizer: `"sgd"` (Nesterov momentum 0.9, as FixMatch) or `"adam"`.
        learning_rate: the initial learning rate, decayed by a cosine over `steps`.
        weight_decay: decoupled weight decay.
        decay_all: the weight decay acts on every weight (True), or spares BatchNorm's scales
            and shifts and the biases (False), as large-batch practice does.
        warmup_fraction: the share of the steps over which the learning rate rises linearly
            from 0 before its cosine decay (0: none).
        ema_momentum: momentum of the weight EMA used to evaluate and save (0: none).
            Default (None): `min(0.999, 1 - 10 / steps)`, so that the average spans at most a
            tenth of training (FixMatch's 0.999 assumes about a million steps).
        ema_warmup: the pace of the EMA's warm-up: its momentum at step `n` is
            `min(ema_momentum, n / (n + ema_warmup))`, so the average follows the network
            from the first steps (TensorFlow's `ExponentialMovingAverage` rule at 9). 0: no
            warm-up; a plain EMA then still weighs the random initial weights at
            `ema_momentum ** n` after `n` steps (docs/consistency.md).
        separate_weak_pass: FixMatch, FlexMatch, FreeMatch, SoftMatch: pass the weak view
            on its own with no gradient instead of in the joint pass with the labeled and
            strong views. Faster steps, but BatchNorm normalizes the weak view by its own
            statistics; off by default, since that can cost accuracy
            (docs/consistency.md).
        ema_targets: FixMatch, FlexMatch, FreeMatch, SoftMatch: the pseudo-labels come from
            the weight average in inference mode (a pass with no gradient), not from the
            network being trained (`SemiSupervisedModel`).
        reestimate_bn: after training, recompute the BatchNorm statistics for the averaged
            weights on the clean training images (`fewlabels.training.labelling`): the
            average's weights never had statistics of their own.
        validation_fraction: share of each labeled class held out to report validation
            accuracy every epoch (0: none, every label trains).
        collapse_epochs: epochs in a row that trigger the collapse warnings.
        jit_compile: compile the training step with XLA. TensorFlow's op determinism
            (`deterministic=True`) rules XLA out, so Keras then runs without it.
        seed: seeds weights, views, shuffling and the validation split.
        deterministic: enable TensorFlow op determinism.
        verbose: 0 silent; 1 one short line per epoch (per stage for self-training); 2
            Keras's own line per epoch, with every metric.

    Example:
    ```python
    from fewlabels.estimators.consistency import ConsistencyTraining

    model = ConsistencyTraining(method="fixmatch", steps=2000).fit(x_images, y_partial)
    model.evaluate(x_test, y_test)["accuracy"]
    model.history_["mask_rate"]                     # per epoch
    ```
    """

    streams_unlabeled = True
    _timing_in_budget: ClassVar[bool] = False  # a recipe's later stage: see steps_for_budget
    _parameter_constraints: ClassVar[dict] = {
        "method": p.nonempty_string,
        "algorithm_params": p.optional(p.mapping),
        "model": check_model_param,
        "backbone": p.optional(p.nonempty_string),
        "weights": p.nonempty_string,
        "input_size": p.optional(p.interval(int, 8, None)),
        "head_units": p.interval(int, 1, None),
        "hidden_units": p.int_sequence(1),
        "cnn_widths": p.int_sequence(1),
        "activation": p.nonempty_string,
        "dropout": p.interval(float, 0.0, 1.0, "left"),
        "weak": p.one_of("auto", *POLICIES, *TABULAR_VIEWS),
        "strong": p.one_of("auto", *POLICIES, *TABULAR_VIEWS),
        "noise": p.interval(float, 0.0, None),
        "swap_rate": p.interval(float, 0.0, 1.0),
        "batch_size": p.interval(int, 1, None),
        "uratio": p.interval(int, 1, None),
        "steps": p.interval(int, 1, None),
        "budget_s": p.optional(p.interval(float, 0.0, None, "neither")),
        "steps_per_epoch": p.interval(int, 1, None),
        "optimizer": p.one_of("sgd", "adam"),
        "learning_rate": p.interval(float, 0.0, None, "neither"),
        "weight_decay": p.interval(float, 0.0, None),
        "decay_all": p.boolean,
        "warmup_fraction": p.interval(float, 0.0, 1.0, "left"),
        "ema_momentum": p.optional(p.interval(float, 0.0, 1.0, "left")),
        "ema_warmup": p.interval(float, 0.0, None),
        "separate_weak_pass": p.boolean,
        "reestimate_bn": p.boolean,
        "ema_targets": p.boolean,
        "validation_fraction": p.interval(float, 0.0, 1.0, "left"),
        "collapse_epochs": p.interval(int, 1, None),
        "jit_compile": p.boolean,
        "seed": p.interval(int, 0, 2**32 - 1),
        "deterministic": p.boolean,
        "verbose": p.one_of(0, 1, 2),
    }

    def __init__(
        self,
        *,
        method: str = "fixmatch",
        algorithm_params: dict | None = None,
        model: str = "auto",
        backbone: str | None = None,
        weights: str = "imagenet",
        input_size: int | None = None,
        head_units: int = 256,
        hidden_units: Sequence[int] = (64, 64),
        cnn_widths: Sequence[int] = (32, 64, 128),
        activation: str = "relu",
        dropout: float = 0.1,
        weak: str = "auto",
        strong: str = "auto",
        augment_params: dict | None = None,
        noise: float = 0.1,
        swap_rate: float = 0.3,
        batch_size: int = 32,
        uratio: int = 7,
        steps: int = 1000,
        budget_s: float | None = None,
        steps_per_epoch: int = 100,
        optimizer: str = "sgd",
        learning_rate: float = 0.03,
        weight_decay: float = 5e-4,
        decay_all: bool = True,
        warmup_fraction: float = 0.0,
        ema_momentum: float | None = None,
        ema_warmup: float = 9.0,
        separate_weak_pass: bool = False,
        reestimate_bn: bool = True,
        ema_targets: bool = False,
        validation_fraction: float = 0.0,
        collapse_epochs: int = 3,
        jit_compile: bool = True,
        seed: int = 0,
        deterministic: bool = True,
        verbose: int = 0,
    ) -> None:
        self.method = method
        self.algorithm_params = algorithm_params
        self.model = model
        self.backbone = backbone
        self.weights = weights
        self.input_size = input_size
        self.head_units = head_units
        self.hidden_units = hidden_units
        self.cnn_widths = cnn_widths
        self.activation = activation
        self.dropout = dropout
        self.weak = weak
        self.strong = strong
        self.augment_params = augment_params
        self.noise = noise
        self.swap_rate = swap_rate
        self.batch_size = batch_size
        self.uratio = uratio
        self.steps = steps
        self.budget_s = budget_s
        self.steps_per_epoch = steps_per_epoch
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.decay_all = decay_all
        self.warmup_fraction = warmup_fraction
        self.ema_momentum = ema_momentum
        self.ema_warmup = ema_warmup
        self.separate_weak_pass = separate_weak_pass
        self.reestimate_bn = reestimate_bn
        self.ema_targets = ema_targets
        self.validation_fraction = validation_fraction
        self.collapse_epochs = collapse_epochs
        self.jit_compile = jit_compile
        self.seed = seed
        self.deterministic = deterministic
        self.verbose = verbose

    def fit(self, X, y, *, classes: Sequence | None = None, validation_data: tuple | None = None,
            y_hidden=None, checkpoint: CheckpointPolicy | None = None,
            unlabeled_files: ImageFiles | None = None,
            unlabeled_targets=None) -> ConsistencyTraining:
        """Fit on labeled and unlabeled rows or images.

        Args:
            X: feature rows `(n, n_features)` or images `(n, height, width, channels)`.
            y: class labels of any type, -1 for unlabeled rows (scikit-learn's convention);
                with `classes`, class indices into it; or one-hot rows (all zeros: unlabeled).
            classes: the class names, when `y` holds indices; default: the sorted labels.
            validation_data: `(X_val, y_val)` to report every epoch, instead of holding out
                `validation_fraction` of the labels.
            y_hidden: true labels of the unlabeled rows, when known (benchmarks): reported
                as `pseudo_label_accuracy`, never used to train.
            checkpoint: write checkpoints (and resume from them): see
                `fewlabels.training.checkpoint.CheckpointPolicy`. A resumed run ends with the same
                weights, history and warnings as an uninterrupted one.
            unlabeled_files: more unlabeled images, streamed from disk batch by batch
                instead of held in memory (`fewlabels.data.folders.ImageFiles`, from
                `load_images(folder, stream_unlabeled=True)`): for pools larger than memory.
                They join the rows of `X` marked -1, if any.
            unlabeled_targets: a teacher's class probabilities for the unlabeled rows of
                `X`, in their order, `(n_unlabeled, n_classes)`; a row of zeros leaves its
                image out. Only for algorithms that learn from a teacher (`distill`, which
                `fewlabels.TeacherStudent` runs), and needed by them.

        Returns:
            `self`, fitted.
        """
        from fewlabels import training
        from fewlabels.ssl_data import ssl_stream
        from fewlabels.training.labelling import reestimate_batchnorm
        from fewlabels.training.recorder import fit_resumable

        p.validate_params(self)
        network, X, y, classes, y_hidden = self._check_data(X, y, classes, y_hidden,
                                                            unlabeled_files)
        images = X.ndim >= 3
        X_train, train_y, hidden, validation = self._split_validation(
            X, y, y_hidden, validation_data, images, len(classes))
        algorithm = self._algorithm(train_y, len(classes), unlabeled_files, unlabeled_targets)
        self.steps_ = self._planned_steps(
            checkpoint, X_train, train_y, classes=classes, validation=validation, hidden=hidden,
            unlabeled_files=unlabeled_files, targets=unlabeled_targets)
        training.seed_everything(self.seed)
        backbone = build_network(network, X, len(classes),
                                 {**self.params_json(), "model": self.model})
        weak, strong = self._views(images, X_train, algorithm.strong_view)

        def stream_from(step: int):
            return ssl_stream(X_train, train_y, batch_size=self.batch_size, uratio=self.uratio,
                              weak=weak, strong=strong, y_hidden=hidden, seed=self.seed,
                              start_step=step, unlabeled_files=unlabeled_files,
                              with_unlabeled=algorithm.has_unsupervised_term,
                              weak_unlabeled=algorithm.needs_weak_view)[0]

        n_unlabeled = int(np.sum(train_y < 0)) + len(unlabeled_files or ())
        with training.op_determinism(self.deterministic):  # for this fit only
            ssl = self._compiled_model(backbone, algorithm, n_unlabeled,
                                       1 if images else self.steps_per_epoch, unlabeled_targets)
            ssl.has_hidden_labels = hidden is not None and bool(
                np.any(hidden[train_y < 0] >= 0))
            callbacks, monitor, recorder = self._callbacks(
                ssl, algorithm, classes, train_y=train_y, validation=validation,
                checkpoint=checkpoint, X_train=X_train, unlabeled_files=unlabeled_files)
            epochs = math.ceil(self.steps_ / self.steps_per_epoch)
            start = time.perf_counter()
            fit_resumable(ssl, stream_from, recorder=recorder, epochs=epochs,
                          steps_per_epoch=self.steps_per_epoch, callbacks=callbacks,
                          verbose=self.verbose)
            ssl.finalize_ema()
            if self.reestimate_bn and images:  # statistics for the averaged weights
                reestimate_batchnorm(backbone, X_train, seed=self.seed)
        self.wall_s_ = round(time.perf_counter() - start, 3)
        self.model_ = backbone  # finalize_ema copied the weight average into it
        self._fitted(X, classes, network, algorithm=algorithm, recorder=recorder,
                     monitor=monitor, train_y=train_y, n_unlabeled=n_unlabeled)
        self.n_steps_ = epochs * self.steps_per_epoch
        return self

    def _fitted(self, X, classes, network, *, algorithm, recorder, monitor, train_y,
                n_unlabeled: int) -> None:
        """Set the fitted attributes that describe the data and the run."""
        self._set_data_shape(X.shape[1:], classes)
        self.network_ = network
        self.algorithm_ = algorithm.hyperparameters()
        self.history_ = {k: [epoch.get(k, float("nan")) for epoch in recorder.history]
                         for k in recorder.history[-1]} if recorder.history else {}
        self.warnings_ = monitor.messages
        self.epoch_wall_s_ = list(recorder.epoch_wall)
        self.n_train_labeled_ = int(np.sum(train_y >= 0))
        self.n_unlabeled_ = n_unlabeled

    def _algorithm(self, train_y, n_classes: int, unlabeled_files, unlabeled_targets):
        """The fit's algorithm: `method`'s, or the supervised one when no row is unlabeled
        (a warning said so); a teacher's targets are checked against it."""
        from fewlabels import algorithms
        from fewlabels.algorithms.distill import check_teacher_targets

        algorithm = algorithms.create(self.method, **(self.algorithm_params or {}))
        if not np.any(train_y < 0) and not unlabeled_files:  # warned: train supervised
            algorithm = algorithms.create("supervised")
        check_teacher_targets(algorithm, unlabeled_targets, int(np.sum(train_y < 0)),
                              n_classes, streamed=bool(unlabeled_files))
        return algorithm

    def _check_data(self, X, y, classes, y_hidden, unlabeled_files):
        """The network for `X`, and the checked `X`, `y`, `classes` and `y_hidden`."""
        return check_pool(X, y, classes, y_hidden, unlabeled_files, model=self.model,
                          backbone=self.backbone)

    def _split_validation(self, X, y, y_hidden, validation_data, images: bool,
                          n_classes: int):
        """The training rows, their labels and hidden labels, and the validation data."""
        return split_validation(X, y, y_hidden, validation_data, images=images,
                                n_classes=n_classes, fraction=self.validation_fraction,
                                seed=self.seed)

    def _compiled_model(self, backbone, algorithm, n_unlabeled: int, steps_per_execution: int,
                        targets=None):
        """The `SemiSupervisedModel`, compiled with its optimizer and cosine schedule (and a
        teacher's `targets` stored in an algorithm that learns from them); the algorithm's
        unsupervised ramp is planned for the run's `steps_`.

        Rows run an epoch per compiled call (`steps_per_execution`): a step of a small MLP
        costs less than Python's round trip (1000 steps: 12 s -> 6 s, the same weights);
        images keep a call per step, so the progress bar moves with each one."""
        from fewlabels.ssl_model import SemiSupervisedModel
        from fewlabels.training.optimizers import build_optimizer

        algorithm.plan(self.steps_)
        ssl = SemiSupervisedModel(backbone, algorithm, n_unlabeled,
                                  ema_momentum=self.ema_used(), ema_warmup=self.ema_warmup,
                                  separate_weak_pass=self.separate_weak_pass,
                                  ema_targets=self.ema_targets)
        optimizer = build_optimizer(self.optimizer, self.learning_rate, steps=self.steps_,
                                    weight_decay=self.weight_decay, decay_all=self.decay_all,
                                    warmup_fraction=self.warmup_fraction)
        ssl.compile(optimizer=optimizer, steps_per_execution=steps_per_execution,
                    jit_compile=self.jit_compile and not self.deterministic)
        ssl.optimizer.build(ssl.trainable_variables)
        if algorithm.needs_targets:
            algorithm.set_targets(targets)
        return ssl

    def _callbacks(self, ssl, algorithm, classes, *, train_y, validation, checkpoint, X_train,
                   unlabeled_files):
        """Validation, the collapse monitor and the checkpoint recorder (last)."""
        from fewlabels import training
        from fewlabels.ssl_model import CollapseMonitor, EMAValidation
        from fewlabels.training.checkpoint import array_fingerprint
        from fewlabels.training.recorder import start_recorder

        n_classes = len(classes)
        callbacks: list = []
        if validation is not None and len(validation[0]):
            callbacks.append(EMAValidation(training.ValidationLoss(
                validation[0], np.eye(n_classes)[validation[1]])))
        prior = np.bincount(train_y[train_y >= 0], minlength=n_classes) / np.sum(train_y >= 0)
        monitor = CollapseMonitor(prior, classes, self.collapse_epochs,
                                  advice=algorithm.collapse_advice())
        if algorithm.has_unsupervised_term:
            callbacks.append(monitor)
        settings = {k: v for k, v in self.params_json().items()
                    if k not in ("verbose", "jit_compile")}
        recorder = start_recorder(checkpoint, ssl, {
            "estimator": type(self).__name__, "classes": [str(c) for c in classes],
            "algorithm": {"method": algorithm.registry_name, **algorithm.hyperparameters()},
            "params": settings, "data": array_fingerprint(X_train, train_y),
            "planned_steps": self.steps_,
            "unlabeled_files": unlabeled_files.fingerprint if unlabeled_files else None,
        }, stateful={"collapse_monitor": monitor})
        callbacks.append(recorder)  # last: it checkpoints each epoch's complete logs
        return callbacks, monitor, recorder

    def _planned_steps(self, checkpoint, X, y, *, classes, validation, hidden, unlabeled_files,
                       targets) -> int:
        """`steps`, or with `budget_s` the steps that fill it: the count a resumed run's
        checkpoint recorded, else a throwaway fit of three epochs timed (`calibration_`)."""
        self.calibration_ = None
        if self.budget_s is None:
            return self.steps
        if checkpoint is not None and checkpoint.resume:
            from fewlabels.training.checkpoint import CheckpointStore

            planned = CheckpointStore(checkpoint.directory).latest()[1].get(
                "fingerprint", {}).get("planned_steps")
            if planned:
                return int(planned)
        from fewlabels.training.budget import steps_for_budget

        def probe_fit(steps: int) -> ConsistencyTraining:
            probe = ConsistencyTraining.like(self, budget_s=None, verbose=0,
                                             validation_fraction=0.0, steps=steps)
            return probe.fit(X, y, classes=classes, validation_data=validation,
                             y_hidden=hidden, unlabeled_files=unlabeled_files,
                             unlabeled_targets=targets)

        steps, self.calibration_ = steps_for_budget(
            probe_fit, budget_s=self.budget_s, steps_per_epoch=self.steps_per_epoch,
            count_timing=self._timing_in_budget)
        return steps

    # -- the methods it serves, and what a run reports ----------------------------------------

    @classmethod
    def method_names(cls) -> list[str]:
        """Every consistency algorithm of the registry that learns without a teacher."""
        from fewlabels.catalog import method_names  # (the registry, read without TensorFlow)

        return method_names()

    @classmethod
    def describe(cls, method: str) -> list[str]:
        """The algorithm's summary, then its defaults."""
        from fewlabels.catalog import algorithms

        algorithm = algorithms()[method]
        return [algorithm.summary, ", ".join(
            f"{k}={round(v, 3) if isinstance(v, float) else v}"
            for k, v in algorithm.defaults.items())]

    @classmethod
    def for_method(cls, method: str, **params: Any) -> ConsistencyTraining:
        """The augmentation policy's options go to `augment_params`, and the names that
        are not parameters of the class to the algorithm (`threshold`, `lambda_u`, ...),
        which names any it does not take, before any data is read."""
        from fewlabels.algorithms.registry import check_hyperparameters

        params = with_policy_options(params)
        own = {k: v for k, v in params.items() if k in cls._get_param_names()}
        algorithm_params = {k: v for k, v in params.items() if k not in own}
        if algorithm_params:
            own["algorithm_params"] = {**(own.get("algorithm_params") or {}),
                                       **algorithm_params}
        check_hyperparameters(method, own.get("algorithm_params") or {})  # at the door
        return cls(method=method).set_params(**own)

    def method_name(self) -> str:
        return self.method

    def supervised_baseline(self) -> ConsistencyTraining:
        return ConsistencyTraining.like(self, method="supervised", algorithm_params=None)

    def budget_words(self) -> str:
        return f"budget: {self.steps} steps"

    def run_summary(self) -> dict:
        # The last epoch's mask rate times the pool: how many images currently pass the mask.
        mask = (self.history_.get("mask_rate") or [0.0])[-1]
        return {"labeled": self.n_train_labeled_,
                "pseudo_labeled": round(mask * self.n_unlabeled_),
                "epochs": len(self.history_.get("loss", [])), "wall_s": self.wall_s_}

    def history_record(self) -> dict:
        return {"estimator": "ConsistencyTraining", "method": self.method,
                "algorithm": self.algorithm_, "steps": self.n_steps_,
                "ema_momentum": self.ema_used(), "ema_warmup": self.ema_warmup,
                "epochs": self.history_, "warnings": self.warnings_}

    def ema_used(self) -> float:
        """The EMA momentum training uses (`ema_momentum`, or the budget's default)."""
        if self.ema_momentum is not None:
            return self.ema_momentum
        steps = getattr(self, "steps_", None) or self.steps
        return max(0.0, min(0.999, 1.0 - 10.0 / steps))

    def training_views(self, X: np.ndarray) -> list[tuple[str, object]]:
        """The weak and strong views of images (`[]` for rows)."""
        from fewlabels import algorithms

        if np.ndim(X) != 4:
            return []
        algorithm = algorithms.create(self.method, **(self.algorithm_params or {}))
        weak, strong = self._views(True, X, algorithm.strong_view)
        return [("weak view", weak), ("strong view", strong)]

    def _views(self, images: bool, X: np.ndarray, strong_view: str = "strong"):
        """The weak and strong view layers for images or rows (`fewlabels.views.pair`)."""
        from fewlabels.views.pair import weak_and_strong

        return weak_and_strong(X, images=images, weak=self.weak, strong=self.strong,
                               strong_view=strong_view, augment_params=self.augment_params,
                               noise=self.noise, swap_rate=self.swap_rate, seed=self.seed)
