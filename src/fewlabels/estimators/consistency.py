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
from fewlabels.errors import InputError
from fewlabels.estimators.base import Estimator
from fewlabels.estimators.pool import check_pool, split_validation
from fewlabels.estimators.specs import Budget, Network, Optimizer, Views, WeightAverage
from fewlabels.models.chooser import build_network
from fewlabels.views.augment import with_policy_options

if TYPE_CHECKING:
    from fewlabels.data.folders import ImageFiles
    from fewlabels.training.checkpoint import CheckpointPolicy
    from fewlabels.training.stages import StageCheckpoints


class ConsistencyTraining(Estimator):
    """A classifier trained by a consistency-regularization algorithm (FixMatch, ...).

    Args:
        method: a registered algorithm: `fewlabels.algorithms.names()` lists them
            (`fewlabels methods` on the command line).
        algorithm_params: the algorithm's own hyperparameters, such as `{"threshold":
            0.9}`; unknown names are an error that lists the accepted ones.
        model: the network: a `Network` (`fewlabels.estimators.specs`), or its architecture
            alone: `"auto"` (MLP for rows, CNN for images, transfer with a backbone),
            `"mlp"`, `"cnn"`, `"wrn"`, `"transfer"`, a `.keras` file, a `keras.Model` or a
            function building one. A pretrained backbone stays frozen (`unfreeze` is
            self-training's).
        views: the weak and strong views and how the step passes them: a `Views`
            (default: `"weak"`/`"strong"` for images, noise/swap for rows).
        batch_size: labeled images per step (B).
        uratio: unlabeled images per labeled one (the step has `uratio * B` unlabeled).
        budget: a `Budget`: `steps` (default 1000), or `seconds` of wall clock, and
            `steps_per_epoch` (default 100) between two epochs' logs and validation.
        optimizer: an `Optimizer`, or its name: `"sgd"` (Nesterov momentum 0.9, learning
            rate 0.03, weight decay 5e-4, as FixMatch; the default) or `"adam"`; a cosine
            decay over the steps.
        average: the weight average that evaluates and saves the model: a `WeightAverage`
            (its momentum, warm-up, whether it gives the pseudo-labels, and BatchNorm
            statistics re-estimated for it).
        validation_fraction: share of each labeled class held out to report validation
            accuracy every epoch (0: none, every label trains).
        collapse_epochs: epochs in a row that trigger the collapse warnings.
        jit_compile: compile the training step with XLA. TensorFlow's op determinism
            (`deterministic=True`) rules XLA out, so Keras then runs without it.
        seed: seeds weights, views, shuffling and the validation split.
        deterministic: enable TensorFlow op determinism for this fit.
        verbose: 0 silent; 1 one short line per epoch (per stage for self-training); 2
            Keras's own line per epoch, with every metric.

    Example:
    ```python
    from fewlabels import Budget, ConsistencyTraining

    model = ConsistencyTraining(method="fixmatch", budget=Budget(2000)).fit(x_images, y_partial)
    model.evaluate(x_test, y_test)["accuracy"]
    model.history_["mask_rate"]                     # per epoch
    ```
    """

    streams_unlabeled = True
    _timing_in_budget: ClassVar[bool] = False  # a recipe's later stage: see steps_for_budget
    _parameter_constraints: ClassVar[dict] = {
        "method": p.nonempty_string,
        "algorithm_params": p.optional(p.mapping),
        "batch_size": p.interval(int, 1, None),
        "uratio": p.interval(int, 1, None),
        "validation_fraction": p.interval(float, 0.0, 1.0, "left"),
        "collapse_epochs": p.interval(int, 1, None),
        "jit_compile": p.boolean,
        "seed": p.interval(int, 0, 2**32 - 1),
        "deterministic": p.boolean,
        "verbose": p.one_of(0, 1, 2),
    }
    _specs: ClassVar[dict] = {"model": Network(), "views": Views(),
                              "budget": Budget(1000, steps_per_epoch=100),
                              "optimizer": Optimizer(), "average": WeightAverage()}
    _renamed: ClassVar[dict] = {"budget_s": "budget.seconds", "ema_momentum": "average.momentum",
                                "ema_warmup": "average.warmup", "ema_targets": "average.targets"}
    _unused: ClassVar[frozenset] = frozenset({"model.unfreeze", "model.unfreeze_learning_rate"})

    def __init__(
        self,
        *,
        method: str = "fixmatch",
        algorithm_params: dict | None = None,
        model: Network | str = "auto",
        views: Views | None = None,
        batch_size: int = 32,
        uratio: int = 7,
        budget: Budget | None = None,
        optimizer: Optimizer | str = "sgd",
        average: WeightAverage | None = None,
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
        self.views = views
        self.batch_size = batch_size
        self.uratio = uratio
        self.budget = budget
        self.optimizer = optimizer
        self.average = average
        self.validation_fraction = validation_fraction
        self.collapse_epochs = collapse_epochs
        self.jit_compile = jit_compile
        self.seed = seed
        self.deterministic = deterministic
        self.verbose = verbose

    def _validate(self) -> None:
        """Every parameter and spec setting, at the door."""
        p.validate_params(self)
        self._check_specs()
        if self._spec("model").unfreeze:
            raise InputError("model.unfreeze: consistency training keeps a pretrained backbone "
                             "frozen; unfreezing its top layers is self-training's second "
                             "phase (or pass weights='none' to train the whole network).")

    def fit(self, X, y, *, classes: Sequence | None = None, validation_data: tuple | None = None,
            y_hidden=None, checkpoint: CheckpointPolicy | StageCheckpoints | None = None,
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
            checkpoint: a `fewlabels.training.checkpoint.CheckpointPolicy` (a resumed run ends
                as an uninterrupted one), or the `StageCheckpoints` of a recipe's run this fit
                is a stage of (`fewlabels.training.stages`).
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

        self._validate()
        budget, average = self._spec("budget"), self._spec("average")
        network, X, y, classes, y_hidden = self._check_data(X, y, classes, y_hidden,
                                                            unlabeled_files)
        images = X.ndim >= 3
        X_train, train_y, hidden, validation = self._split_validation(
            X, y, y_hidden, validation_data, images, len(classes))
        algorithm = self._algorithm(train_y, len(classes), unlabeled_files, unlabeled_targets)
        stages = self._stages(checkpoint, classes, X_train, train_y, unlabeled_files)
        self.steps_ = self._planned_steps(
            stages, X_train, train_y, classes=classes, validation=validation, hidden=hidden,
            unlabeled_files=unlabeled_files, targets=unlabeled_targets)
        training.seed_everything(self.seed)
        backbone = build_network(network, X, len(classes), self._spec("model"))
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
                                       1 if images else budget.steps_per_epoch, unlabeled_targets)
            ssl.has_hidden_labels = hidden is not None and bool(np.any(hidden[train_y < 0] >= 0))
            callbacks, monitor, recorder = self._callbacks(
                ssl, algorithm, classes, train_y=train_y, validation=validation, stages=stages)
            epochs = math.ceil(self.steps_ / budget.steps_per_epoch)
            start = time.perf_counter()
            fit_resumable(ssl, stream_from, recorder=recorder, epochs=epochs,
                          steps_per_epoch=budget.steps_per_epoch, callbacks=callbacks,
                          verbose=self.verbose)
            stages.stage_done(recorder)
            ssl.finalize_ema()
            if average.reestimate_bn and images:  # statistics for the averaged weights
                reestimate_batchnorm(backbone, X_train, seed=self.seed)
        self.wall_s_ = round(time.perf_counter() - start, 3)
        self.model_ = backbone  # finalize_ema copied the weight average into it
        self._fitted(X, classes, network, algorithm=algorithm, recorder=recorder,
                     monitor=monitor, train_y=train_y, n_unlabeled=n_unlabeled)
        self.n_steps_ = epochs * budget.steps_per_epoch
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

    _FITTED: ClassVar[tuple[str, ...]] = (
        "network_", "algorithm_", "history_", "warnings_", "epoch_wall_s_", "n_train_labeled_",
        "n_unlabeled_", "wall_s_", "n_steps_", "steps_", "calibration_")
    """The fitted attributes beside the network and the data's shape."""

    def fitted_state(self) -> dict:
        """The fitted attributes beside the network, as JSON values: what a recipe's
        journal keeps of a finished stage (`restore_fitted` reads it back)."""
        self._check_fitted()
        return {k: getattr(self, k) for k in self._FITTED}

    def restore_fitted(self, state: dict, weights: list, X: np.ndarray,
                       classes) -> ConsistencyTraining:
        """Fitted as `fitted_state` and the network's `weights` say, for inputs like `X`:
        a recipe's finished stage when the run resumes.

        Returns:
            `self`, fitted.
        """
        for key in self._FITTED:
            setattr(self, key, state[key])
        self.model_ = build_network(self.network_, X, len(classes), self._spec("model"))
        self.model_.set_weights(weights)
        self._set_data_shape(X.shape[1:], classes)
        return self

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
        network = self._spec("model")
        return check_pool(X, y, classes, y_hidden, unlabeled_files,
                          model=network.architecture, backbone=network.backbone)

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
        from fewlabels.training.distribute import compiled_step, steps_per_call
        from fewlabels.training.optimizers import build_optimizer

        algorithm.plan(self.steps_)
        average, spec = self._spec("average"), self._spec("optimizer")
        ssl = SemiSupervisedModel(backbone, algorithm, n_unlabeled,
                                  ema_momentum=self.ema_used(), ema_warmup=average.warmup,
                                  separate_weak_pass=self._spec("views").separate_weak_pass,
                                  ema_targets=average.targets)
        optimizer = build_optimizer(spec.name, spec.learning_rate, steps=self.steps_,
                                    weight_decay=spec.weight_decay, decay_all=spec.decay_all,
                                    warmup_fraction=spec.warmup_fraction)
        ssl.compile(optimizer=optimizer, steps_per_execution=steps_per_call(steps_per_execution),
                    jit_compile=compiled_step(self.jit_compile and not self.deterministic))
        ssl.optimizer.build(ssl.trainable_variables)
        if algorithm.needs_targets:
            algorithm.set_targets(targets)
        return ssl

    def _stages(self, checkpoint, classes, X_train, train_y, unlabeled_files):
        """The run's checkpoints: a recipe's, when this fit is one of its stages, else a run
        of this one stage (`fewlabels.training.stages`)."""
        from fewlabels.training.checkpoint import array_fingerprint
        from fewlabels.training.stages import StageCheckpoints, StageJournal

        if isinstance(checkpoint, StageCheckpoints):
            return checkpoint
        return StageCheckpoints(checkpoint, StageJournal(), {
            "estimator": type(self).__name__, "classes": [str(c) for c in classes],
            "params": self._settings(), "data": array_fingerprint(X_train, train_y),
            "unlabeled_files": unlabeled_files.fingerprint if unlabeled_files else None})

    def _settings(self) -> dict:
        """The parameters that define a run (not how it prints or compiles)."""
        return {k: v for k, v in self.params_json().items()
                if k not in ("verbose", "jit_compile")}

    def _callbacks(self, ssl, algorithm, classes, *, train_y, validation, stages):
        """Validation, the collapse monitor and the checkpoint recorder (last)."""
        from fewlabels import training
        from fewlabels.ssl_model import CollapseMonitor, EMAValidation

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
        recorder = stages.recorder(ssl, {"collapse_monitor": monitor}, {
            "algorithm": {"method": algorithm.registry_name, **algorithm.hyperparameters()},
            "planned_steps": self.steps_, "params": self._settings()})
        callbacks.append(recorder)  # last: it checkpoints each epoch's complete logs
        return callbacks, monitor, recorder

    def _planned_steps(self, stages, X, y, *, classes, validation, hidden, unlabeled_files,
                       targets) -> int:
        """`steps`, or with `budget_s` the steps that fill it: the count a resumed run's
        checkpoint recorded, else a throwaway fit of three epochs timed (`calibration_`)."""
        self.calibration_ = None
        budget = self._spec("budget")
        if budget.seconds is None:
            return budget.steps
        planned = stages.resumed("planned_steps")  # the count a resumed run planned
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
            probe_fit, budget_s=budget.seconds, steps_per_epoch=budget.steps_per_epoch,
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
        known = {*cls._get_param_names(), *cls.flat_names()}
        own = {k: v for k, v in params.items() if k in known}
        algorithm_params = {k: v for k, v in params.items() if k not in own}
        if algorithm_params:
            own["algorithm_params"] = {**(own.get("algorithm_params") or {}),
                                       **algorithm_params}
        check_hyperparameters(method, own.get("algorithm_params") or {})  # at the door
        return cls(method=method).set_params(**cls._nest(own))

    def method_name(self) -> str:
        return self.method

    def supervised_baseline(self) -> ConsistencyTraining:
        return ConsistencyTraining.like(self, method="supervised", algorithm_params=None)

    def budget_words(self) -> str:
        return f"budget: {self._spec('budget').steps} steps"

    def run_summary(self) -> dict:
        # The last epoch's mask rate times the pool: how many images currently pass the mask.
        mask = (self.history_.get("mask_rate") or [0.0])[-1]
        return {"labeled": self.n_train_labeled_,
                "pseudo_labeled": round(mask * self.n_unlabeled_),
                "epochs": len(self.history_.get("loss", [])), "wall_s": self.wall_s_}

    def history_record(self) -> dict:
        return {"estimator": "ConsistencyTraining", "method": self.method,
                "algorithm": self.algorithm_, "steps": self.n_steps_,
                "ema_momentum": self.ema_used(), "ema_warmup": self._spec("average").warmup,
                "epochs": self.history_, "warnings": self.warnings_}

    def ema_used(self) -> float:
        """The EMA momentum training uses (`ema_momentum`, or the budget's default)."""
        momentum = self._spec("average").momentum
        if momentum is not None:
            return momentum
        steps = getattr(self, "steps_", None) or self._spec("budget").steps
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

        views = self._spec("views")
        return weak_and_strong(X, images=images, weak=views.weak, strong=views.strong,
                               strong_view=strong_view, augment_params=views.augment_params,
                               noise=views.noise, swap_rate=views.swap_rate, seed=self.seed)

    def _augmentation(self) -> dict:
        return self._spec("views").augment_params or {}
