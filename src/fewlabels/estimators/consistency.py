"""Consistency training (FixMatch and its family) as a scikit-learn-style estimator.

`ConsistencyTraining(method="fixmatch").fit(X, y)` builds the network (as `SelfTraining` does:
an MLP for rows, the CNN or WRN-28-2 for images, or a transfer backbone), wraps it in a
`SemiSupervisedModel` with the chosen algorithm, and trains it with plain `keras.Model.fit`
on the `ssl_stream` of weak-augmented labeled batches and weak/strong unlabeled views.
Evaluation and saving use an exponential moving average of the weights, kept by
`SemiSupervisedModel` (not the optimizer's `use_ema`, which breaks a resumed run).

Rows get tabular views (`fewlabels.views.tabular`): Gaussian noise for the weak view, swap
noise for the strong one. Images get the `weak` and `strong` augmentation policies.

Monitoring, in `history_` every epoch (see `SemiSupervisedModel`): `sup_loss`, `unsup_loss`,
`mask_rate`, `share_<c>` and `pseudo_label_accuracy` (when `y_hidden` is given). A warning
names the class when accepted pseudo-labels pile onto it (a share above twice its labeled
prior for `collapse_epochs` epochs in a row), and says so when the mask rate stays at 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from fewlabels import params as p
from fewlabels.data.splits import stratified_split
from fewlabels.errors import InputError
from fewlabels.estimators.base import Estimator, encode_hidden, encode_labels
from fewlabels.models.chooser import build_network, check_model_param, choose_network
from fewlabels.validation import check_dense, check_features, check_training_data
from fewlabels.views import TABULAR_VIEWS
from fewlabels.views.augment import POLICIES

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
        steps_per_epoch: steps between two epochs' logs, validation and warnings.
        optimizer: `"sgd"` (Nesterov momentum 0.9, as FixMatch) or `"adam"`.
        learning_rate: the initial learning rate, decayed by a cosine over `steps`.
        weight_decay: decoupled weight decay.
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
        "steps_per_epoch": p.interval(int, 1, None),
        "optimizer": p.one_of("sgd", "adam"),
        "learning_rate": p.interval(float, 0.0, None, "neither"),
        "weight_decay": p.interval(float, 0.0, None),
        "ema_momentum": p.optional(p.interval(float, 0.0, 1.0, "left")),
        "ema_warmup": p.interval(float, 0.0, None),
        "separate_weak_pass": p.boolean,
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
        steps_per_epoch: int = 100,
        optimizer: str = "sgd",
        learning_rate: float = 0.03,
        weight_decay: float = 5e-4,
        ema_momentum: float | None = None,
        ema_warmup: float = 9.0,
        separate_weak_pass: bool = False,
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
        self.steps_per_epoch = steps_per_epoch
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.ema_momentum = ema_momentum
        self.ema_warmup = ema_warmup
        self.separate_weak_pass = separate_weak_pass
        self.validation_fraction = validation_fraction
        self.collapse_epochs = collapse_epochs
        self.jit_compile = jit_compile
        self.seed = seed
        self.deterministic = deterministic
        self.verbose = verbose

    def fit(self, X, y, *, classes: Sequence | None = None, validation_data: tuple | None = None,
            y_hidden=None, checkpoint: CheckpointPolicy | None = None,
            unlabeled_files: ImageFiles | None = None) -> ConsistencyTraining:
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

        Returns:
            `self`, fitted.
        """
        from fewlabels import algorithms, training
        from fewlabels.ssl_data import ssl_stream
        from fewlabels.training.recorder import fit_resumable

        p.validate_params(self)
        network, X, y, classes, y_hidden = self._check_data(X, y, classes, y_hidden,
                                                            unlabeled_files)
        images = X.ndim >= 3
        algorithm = algorithms.create(self.method, **(self.algorithm_params or {}))
        X_train, train_y, hidden, validation = self._split_validation(
            X, y, y_hidden, validation_data, images, len(classes))
        if not np.any(train_y < 0) and not unlabeled_files:  # warned: train supervised
            algorithm = algorithms.create("supervised")

        training.seed_everything(self.seed, self.deterministic)
        backbone = build_network(network, X, len(classes),
                                 {**self.params_json(), "model": self.model})
        weak, strong = self._views(images, X_train, algorithm.strong_view)

        def stream_from(step: int):
            return ssl_stream(X_train, train_y, batch_size=self.batch_size, uratio=self.uratio,
                              weak=weak, strong=strong, y_hidden=hidden, seed=self.seed,
                              start_step=step, unlabeled_files=unlabeled_files,
                              with_unlabeled=algorithm.has_unsupervised_term)[0]

        n_unlabeled = int(np.sum(train_y < 0)) + len(unlabeled_files or ())
        ssl = self._compiled_model(backbone, algorithm, n_unlabeled,
                                   1 if images else self.steps_per_epoch)
        ssl.has_hidden_labels = hidden is not None and bool(np.any(hidden[train_y < 0] >= 0))
        callbacks, monitor, recorder = self._callbacks(
            ssl, algorithm, classes, train_y, validation, checkpoint, X_train, unlabeled_files)
        epochs = math.ceil(self.steps / self.steps_per_epoch)
        start = time.perf_counter()
        fit_resumable(ssl, stream_from, recorder=recorder, epochs=epochs,
                      steps_per_epoch=self.steps_per_epoch, callbacks=callbacks,
                      verbose=self.verbose)
        ssl.finalize_ema()
        self.wall_s_ = round(time.perf_counter() - start, 3)
        self.model_ = backbone  # finalize_ema copied the weight average into it
        self.classes_ = list(classes)
        self.input_shape_ = tuple(int(d) for d in X.shape[1:])
        if not images:
            self.n_features_in_ = X.shape[1]
        self.network_ = network
        self.algorithm_ = algorithm.hyperparameters()
        self.history_ = {k: [epoch.get(k, float("nan")) for epoch in recorder.history]
                         for k in recorder.history[-1]} if recorder.history else {}
        self.warnings_ = monitor.messages
        self.epoch_wall_s_ = list(recorder.epoch_wall)
        self.n_steps_ = epochs * self.steps_per_epoch
        self.n_train_labeled_ = int(np.sum(train_y >= 0))
        self.n_unlabeled_ = n_unlabeled
        return self

    def _check_data(self, X, y, classes, y_hidden, unlabeled_files):
        """The network for `X`, and the checked `X`, `y`, `classes` and `y_hidden`."""
        check_dense(X)
        X_arr = np.asarray(X)
        network = choose_network(self.model, self.backbone, X_arr.ndim)
        images = X_arr.ndim >= 3
        if unlabeled_files is not None and not images:
            raise InputError("unlabeled_files are images; X holds feature rows.")
        if unlabeled_files is not None and y_hidden is not None:
            raise InputError("y_hidden cannot describe unlabeled_files; pass it without "
                             "streamed files.")
        y, labels = encode_labels(y, classes)
        X, y, labels = check_training_data(X_arr, y, labels, images=images,
                                           more_unlabeled=bool(unlabeled_files))
        y_hidden = encode_hidden(y_hidden, classes, labels)
        classes = labels
        y_hidden = None if y_hidden is None else np.asarray(y_hidden, dtype=np.int64)
        if y_hidden is not None and y_hidden.shape != y.shape:
            raise InputError(f"y_hidden has shape {y_hidden.shape}; expected {y.shape}.")
        return network, X, y, classes, y_hidden

    def _split_validation(self, X, y, y_hidden, validation_data, images: bool,
                          n_classes: int):
        """The training rows, their labels and hidden labels, and the validation data:
        given, or `validation_fraction` of each labeled class held out of training."""
        labeled = np.flatnonzero(y >= 0)
        validation = None
        if validation_data is not None:
            x_val = check_features(validation_data[0], name="X_val", images=images,
                                   input_shape=X.shape[1:] if images else None,
                                   n_features=None if images else X.shape[1])
            y_val = np.asarray(validation_data[1], dtype=np.int64)
            if len(y_val) != len(x_val) or np.any((y_val < 0) | (y_val >= n_classes)):
                raise InputError(
                    "validation_data labels must be class indices, one per row of X_val."
                )
            validation = (x_val, y_val)
        elif self.validation_fraction > 0:
            _, held = stratified_split(y[labeled], self.validation_fraction, self.seed)
            rows = labeled[held]
            validation = (X[rows], y[rows])
            y = y.copy()
            y[rows] = -2  # held out: neither labeled nor unlabeled for training
        keep = y != -2
        if keep.all():  # nothing held out: no copy of a large pool
            return X, y, y_hidden, validation
        hidden = None if y_hidden is None else y_hidden[keep]
        return X[keep], np.where(y == -2, -1, y)[keep], hidden, validation

    def _compiled_model(self, backbone, algorithm, n_unlabeled: int, steps_per_execution: int):
        """The `SemiSupervisedModel`, compiled with its optimizer and cosine schedule.

        Rows run an epoch per compiled call (`steps_per_execution`): a step of a small MLP
        costs less than Python's round trip (1000 steps: 12 s -> 6 s, the same weights);
        images keep a call per step, so the progress bar moves with each one."""
        import keras

        from fewlabels.ssl_model import SemiSupervisedModel

        ssl = SemiSupervisedModel(backbone, algorithm, n_unlabeled,
                                  ema_momentum=self.ema_used(), ema_warmup=self.ema_warmup,
                                  separate_weak_pass=self.separate_weak_pass)
        schedule = keras.optimizers.schedules.CosineDecay(self.learning_rate, self.steps)
        if self.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                             weight_decay=self.weight_decay or None)
        else:
            optimizer = keras.optimizers.AdamW(schedule, weight_decay=self.weight_decay)
        ssl.compile(optimizer=optimizer, steps_per_execution=steps_per_execution,
                    jit_compile=self.jit_compile and not self.deterministic)
        ssl.optimizer.build(ssl.trainable_variables)
        return ssl

    def _callbacks(self, ssl, algorithm, classes, train_y, validation, checkpoint, X_train,
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
        monitor = CollapseMonitor(prior, classes, self.collapse_epochs)
        if algorithm.has_unsupervised_term:
            callbacks.append(monitor)
        settings = {k: v for k, v in self.params_json().items()
                    if k not in ("verbose", "jit_compile")}
        recorder = start_recorder(checkpoint, ssl, {
            "estimator": type(self).__name__, "classes": [str(c) for c in classes],
            "algorithm": {"method": algorithm.registry_name, **algorithm.hyperparameters()},
            "params": settings, "data": array_fingerprint(X_train, train_y),
            "unlabeled_files": unlabeled_files.fingerprint if unlabeled_files else None,
        }, stateful={"collapse_monitor": monitor})
        callbacks.append(recorder)  # last: it checkpoints each epoch's complete logs
        return callbacks, monitor, recorder

    def ema_used(self) -> float:
        """The EMA momentum training uses (`ema_momentum`, or the budget's default)."""
        if self.ema_momentum is not None:
            return self.ema_momentum
        return max(0.0, min(0.999, 1.0 - 10.0 / self.steps))

    def training_views(self, X: np.ndarray) -> list[tuple[str, object]]:
        """The weak and strong views of images (`[]` for rows)."""
        from fewlabels import algorithms

        if np.ndim(X) != 4:
            return []
        algorithm = algorithms.create(self.method, **(self.algorithm_params or {}))
        weak, strong = self._views(True, X, algorithm.strong_view)
        return [("weak view", weak), ("strong view", strong)]

    def _views(self, images: bool, X: np.ndarray, strong_view: str = "strong"):
        """The weak and strong view layers for images or rows.

        `strong="auto"` takes the algorithm's `strong_view`: `"strong"` (RandAugment and
        Cutout; swap noise for rows), or `"weak"` for MixMatch, whose two views are both weak.
        Images on a plain background (`fewlabels.views.augment.plain_background`) are filled with
        it where the views move them.
        """
        from fewlabels.views.augment import build_policy, plain_background
        from fewlabels.views.tabular import build_tabular_view

        weak = self.weak if self.weak != "auto" else ("weak" if images else "noise")
        auto = {"strong": "strong" if images else "swap", "weak": weak}[strong_view]
        strong = self.strong if self.strong != "auto" else auto
        layers = []
        background = plain_background(X) if images else None
        for offset, name in enumerate((weak, strong)):
            if images:
                if name not in POLICIES:
                    raise InputError(f"{name!r} is a view for rows; images take {POLICIES}.")
                layers.append(build_policy(name, **(self.augment_params or {}),
                                           seed=self.seed + 100 * offset,
                                           background=background))
            else:
                if name not in TABULAR_VIEWS:
                    raise InputError(
                        f"{name!r} is an image policy; rows take {TABULAR_VIEWS}."
                    )
                layers.append(build_tabular_view(name, X, noise=self.noise,
                                                 swap_rate=self.swap_rate,
                                                 seed=self.seed + 100 * offset))
        return layers
