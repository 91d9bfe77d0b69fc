"""Self-training (pseudo-labeling): the classic semi-supervised recipe, done right.

1. Train on the labeled rows, with early stopping on a labeled validation split.
2. Predict the unlabeled pool; accept confident predictions as pseudo-labels (class indices,
   never probability vectors passed as sparse labels), by `threshold` or top-`k_best` per
   class, optionally capped by the labeled class prior.
3. Retrain on labeled + pseudo-labeled rows (`pseudo_weight` as sample weight). Repeat for
   `rounds`, or until no new row is accepted.
4. Fine-tune on the labeled rows, keeping the weights that are best on validation.

The fitted state follows scikit-learn's `SelfTrainingClassifier`: `transduction_`,
`labeled_iter_`, `n_iter_`, `termination_condition_`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fewlabels import params as p
from fewlabels.errors import InputError
from fewlabels.estimators.base import Estimator, if_learner_has
from fewlabels.estimators.base_learner import (
    NETWORK,
    BaseLearnerRun,
    check_classifier,
    classifier_proba,
)
from fewlabels.estimators.specs import Budget, FineTune, Network, Selection, Stopping
from fewlabels.models.chooser import choose_network, pretrained
from fewlabels.views.augment import POLICIES, with_policy_options

if TYPE_CHECKING:
    from fewlabels.training.checkpoint import CheckpointPolicy


class SelfTraining(Estimator):
    """A self-training classifier: learns from labeled and unlabeled rows or images.

    With `rounds=0` it is the plain supervised MLP, trained by the same code: the baseline.

    Args:
        estimator: a scikit-learn classifier to self-train instead of a network
            (`SVC(probability=True)`, `LogisticRegression()`, a `Pipeline`, ...): the same
            rounds, selection, class balance, calibration and records, with a fresh clone
            of it fitted each stage (see `fewlabels.estimators.base_learner`). Feature rows
            only; such a fit cannot be saved or checkpointed (only Keras models load
            safely), and there is no fine-tuning.
        model: the network: a `Network` (`fewlabels.estimators.specs`), or its architecture
            alone. `"auto"` (default): `"mlp"` for feature rows, `"cnn"` for images,
            `"transfer"` when the network has a `backbone`. For images `(n, height, width,
            channels)` in 0..255: `"cnn"` (compact CNN), `"wrn"` (WRN-28-2) or `"transfer"`
            (a pretrained `keras.applications` backbone with a new head, and a second
            phase that unfreezes its top layers: `Network.unfreeze`).
        augment: for images, the augmentation policy applied to every training batch:
            `"none"`, `"classic"`, `"weak"` or `"strong"` (see `fewlabels.views.augment`).
        augment_params: options of the policy (`fewlabels.views.augment.build_policy`):
            `rotation`, `width_shift`, `height_shift`, `shear`, `zoom`, `horizontal_flip`,
            `vertical_flip`, `fill_mode`.
        learning_rate: Adam's learning rate in every stage.
        batch_size: training batch size.
        stopping: when a stage stops: a `Stopping` (at most `epochs`, early stopping with
            `patience` after `min_steps`, on a `validation_fraction` of each class).
        selection: which rows a round accepts and how they train: a `Selection`
            (`criterion`, `threshold`, `k_best`, `class_balance`, `calibrate`,
            `soft_labels`, `pseudo_weight`).
        rounds: the most pseudo-labeling rounds (0: supervised only; None: until every row
            is labeled or a round accepts none, as scikit-learn's `max_iter=None`).
        warm_start: continue training the previous round's model instead of a fresh one.
        finetune: fine-tune on the labeled rows after the last round: True, False, or a
            `FineTune` (its epochs and learning rate).
        budget: a wall-clock budget for the whole fit: `Budget(seconds=...)`. A few timed
            training steps size each stage's passes (the initial stage, each round,
            fine-tuning) to share it by their rows; a round that would get fewer than 3
            passes is left out (rounds from the last). The plan is said first (verbose) and
            kept in `plan_`; a resumed run keeps it. None: epochs and early stopping alone.
            A network learner only.
        seed: seeds weights, shuffling, dropout and the validation split.
        deterministic: enable TensorFlow op determinism for this fit, so a seed reproduces
            exactly.
        verbose: 0 silent; 1 one short line per epoch (per stage for self-training); 2
            Keras's own line per epoch, with every metric.

    Example:
    ```python
    from fewlabels import Selection, SelfTraining
    from fewlabels.data import load_table

    table = load_table("data.csv")            # -1 marks unlabeled rows
    model = SelfTraining(selection=Selection(threshold=0.9)).fit(table.x, table.y,
                                                                 classes=table.classes)
    model.predict(x_new)                        # class labels, values of model.classes_
    model.save("run/")
    ```
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": check_classifier,
        "augment": p.one_of(*POLICIES),
        "augment_params": p.optional(p.mapping),
        "learning_rate": p.interval(float, 0.0, None, "neither"),
        "batch_size": p.interval(int, 1, None),
        "rounds": p.optional(p.interval(int, 0, None)),
        "warm_start": p.boolean,
        "seed": p.interval(int, 0, 2**32 - 1),
        "deterministic": p.boolean,
        "verbose": p.one_of(0, 1, 2),
    }
    _specs: ClassVar[dict] = {"model": Network(), "stopping": Stopping(),
                              "selection": Selection(), "finetune": FineTune(),
                              "budget": Budget()}
    _renamed: ClassVar[dict] = {"budget_s": "budget.seconds",
                                "finetune_epochs": "finetune.epochs",
                                "finetune_learning_rate": "finetune.learning_rate"}
    _unused: ClassVar[frozenset] = frozenset({"budget.steps", "budget.steps_per_epoch"})

    def __init__(
        self,
        estimator: Any = None,
        *,
        model: Network | str = "auto",
        augment: str = "none",
        augment_params: dict | None = None,
        learning_rate: float = 1e-3,
        batch_size: int = 32,
        stopping: Stopping | None = None,
        selection: Selection | None = None,
        rounds: int | None = 5,
        warm_start: bool = False,
        finetune: bool | FineTune = True,
        budget: Budget | None = None,
        seed: int = 0,
        deterministic: bool = True,
        verbose: int = 0,
    ) -> None:
        self.estimator = estimator
        self.model = model
        self.augment = augment
        self.augment_params = augment_params
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.stopping = stopping
        self.selection = selection
        self.rounds = rounds
        self.warm_start = warm_start
        self.finetune = finetune
        self.budget = budget
        self.seed = seed
        self.deterministic = deterministic
        self.verbose = verbose

    # -- fitting ----------------------------------------------------------------------------

    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        classes: Sequence | None = None,
        validation_data: tuple | None = None,
        y_hidden=None,
        checkpoint: CheckpointPolicy | None = None,
    ) -> SelfTraining:
        """Fit on labeled and unlabeled rows.

        Args:
            X: features, `(n_samples, n_features)`.
            y: class labels of any type, -1 for unlabeled rows (scikit-learn's convention);
                with `classes`, class indices into it; or one-hot rows
                `(n_samples, n_classes)`, all zeros for unlabeled rows.
            sample_weight: weights of the labeled rows, one per row of `X` (those of
                unlabeled rows are not read; pseudo-labeled rows weigh `pseudo_weight`).
                Around a scikit-learn `estimator`, its `fit` must take `sample_weight`.
            classes: the class names, when `y` holds indices; default: the sorted labels.
            validation_data: `(X_val, y_val)` for early stopping, instead of holding out
                `validation_fraction` of the labeled rows.
            y_hidden: the true labels of the unlabeled rows, when known (benchmarks). Used
                only to report pseudo-label accuracy, never to train.
            checkpoint: write a checkpoint at every epoch end of every stage (and resume
                from one): see `fewlabels.training.checkpoint.CheckpointPolicy`. The checkpoint also
                holds the rounds so far (pseudo-labels, records), so a resumed run continues
                inside the stage it stopped in and ends as an uninterrupted one.

        Returns:
            `self`, fitted.
        """
        from fewlabels.estimators.self_training_run import SelfTrainingRun
        from fewlabels.training import op_determinism

        p.validate_params(self)
        self._check_specs()
        if self._spec("budget").steps is not None or self._spec("budget").steps_per_epoch:
            raise InputError("budget: self-training's stages stop early, so its budget is in "
                             "seconds (Budget(seconds=...)); steps and steps_per_epoch are "
                             "consistency training's.")
        kind = SelfTrainingRun if self.estimator is None else BaseLearnerRun
        with op_determinism(self.deterministic):
            run = kind(self, X, y, classes, validation_data=validation_data, y_hidden=y_hidden,
                       checkpoint=checkpoint, sample_weight=sample_weight)
            run.initial_stage()
            run.pseudo_label_rounds()
            run.finetune()
        run.fitted(self)
        return self

    def __sklearn_tags__(self):
        """Estimator tags; around a scikit-learn `estimator`, sparse input as it takes it."""
        tags = super().__sklearn_tags__()
        if self.estimator is not None:
            from sklearn.utils import get_tags

            tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse
        return tags

    def network_for(self, ndim: int) -> str:
        """The network `fit` builds for inputs of `ndim` dimensions (2: rows, 4: images);
        `"estimator"` when a scikit-learn `estimator` is the learner."""
        spec = self._spec("model")
        if self.estimator is None:
            network = choose_network(spec.architecture, spec.backbone, ndim)
            if spec.unfreeze is not None and not (network == "transfer"
                                                  and pretrained(spec.weights)):
                raise InputError(
                    f"model.unfreeze={spec.unfreeze} unfreezes a pretrained backbone's top layers, "
                    "but " + ("weights='none' trains the whole network from the start"
                              if network == "transfer" else
                              f"the network is {network!r}, with no frozen backbone") +
                    ": leave unfreeze unset.")
            return network
        if spec.architecture != "auto" or spec.backbone is not None:
            raise InputError("estimator= is the learner; leave model='auto' and backbone=None "
                             "(or drop estimator= to train a network).")
        if ndim != 2:
            raise InputError("estimator= takes feature rows (n_samples, n_features); for "
                             "images, train a network (model='cnn', 'wrn' or 'transfer').")
        return NETWORK

    def training_views(self, X: np.ndarray) -> list[tuple[str, object]]:
        """`[("augment=<policy>", policy layer)]` for images when `augment` is not `"none"`."""
        if self.augment == "none" or np.ndim(X) != 4:
            return []
        from fewlabels.views.augment import build_policy, plain_background

        return [(f"augment={self.augment}",
                 build_policy(self.augment, **(self.augment_params or {}), seed=self.seed,
                              background=plain_background(X)))]

    def predict(self, X, *, tta: bool = False) -> np.ndarray:
        """Predicted classes: values of `classes_`. Around a scikit-learn `estimator`, its own
        `predict` (as `SelfTrainingClassifier`'s), which for `SVC(probability=True)` can
        differ from the top class of `predict_proba`."""
        if getattr(self, "network_", None) != NETWORK:
            return super().predict(X, tta=tta)
        self._check_fitted()
        return np.asarray(self.classes_)[self.model_.predict(self._check_input(X)).astype(int)]

    def _check_input(self, X):
        if getattr(self, "network_", None) != NETWORK:
            return super()._check_input(X)
        from fewlabels.validation import check_features

        return check_features(X, n_features=self.n_features_in_, estimator="SelfTraining",
                              for_learner=True)

    @if_learner_has
    def decision_function(self, X) -> np.ndarray:
        """The fitted scikit-learn learner's `decision_function` (available only when it has
        one, as scikit-learn's `SelfTrainingClassifier`).

        Args:
            X: features, `(n_samples, n_features)`.

        Returns:
            What `estimator_.decision_function` returns.
        """
        self._check_fitted()
        return self.estimator_.decision_function(self._check_input(X))

    def _proba_of(self, model, X, tta: bool = False):
        if getattr(self, "network_", None) == NETWORK:
            if tta:
                self._check_tta(X)  # a scikit-learn learner takes rows: refused
            return classifier_proba(model, X, len(self.classes_))
        return super()._proba_of(model, X, tta)

    # -- the methods it serves, and what a run reports ----------------------------------------

    summaries: ClassVar[dict[str, str]] = {
        "self-training": "pseudo-labeling rounds: train, label the confident unlabeled rows, "
                         "retrain, fine-tune on the labels",
        "supervised": "the labels alone (the baseline every method is compared with)"}

    @classmethod
    def method_names(cls) -> list[str]:
        return list(cls.summaries)

    @classmethod
    def for_method(cls, method: str, **params: Any) -> SelfTraining:
        """`"supervised"` is the same network with `rounds=0` and no fine-tuning; the
        augmentation policy's options go to `augment_params`."""
        # set_params names an unknown option
        estimator = cls().set_params(**cls._nest(with_policy_options(params)))
        if method == "supervised":
            estimator.set_params(rounds=0, finetune=False)
        return estimator

    def method_name(self) -> str:
        return "supervised" if self.rounds == 0 else "self-training"

    def supervised_baseline(self) -> SelfTraining:
        budget = max(self._spec("stopping").epochs, getattr(self, "epochs_run_", 0))
        return type(self).like(self, epochs=budget, rounds=0, finetune=False)

    def budget_words(self) -> str:
        return f"budget: {self._spec('stopping').epochs} epochs"

    def result_stages(self) -> list[tuple[str, str]]:
        if self.rounds == 0:
            return [("supervised", "final")]
        stages = []
        if getattr(self, "pre_finetune_model_", None) is not None:
            stages.append(("self-training (before fine-tune)", "before_finetune"))
        return [*stages, ("self-training", "final")]

    def run_summary(self) -> dict:
        calibrated = [r["calibration"] for r in self.rounds_ if "calibration" in r]
        return {"labeled": self.n_train_labeled_,
                "pseudo_labeled": int(np.sum(self.labeled_iter_ > 0)),
                "epochs": self.epochs_run_,
                "wall_s": round(sum(s["wall_s"] for s in self.stages_), 3),
                # the last round's temperature, and its validation ECE before and after
                **({"calibration": calibrated[-1]} if calibrated else {})}

    def history_record(self) -> dict:
        return {"estimator": "SelfTraining", "n_iter": self.n_iter_,
                "termination_condition": self.termination_condition_,
                "rounds": self.rounds_, "stages": self.stages_}

    def save(self, directory, *, extra_config: dict | None = None) -> None:
        """Save the model (`model.keras`), class list and parameters into `directory`.

        A fit around a scikit-learn `estimator` cannot be saved (only Keras models load
        without running code); that is an `InputError`.
        """
        if getattr(self, "network_", None) == NETWORK:
            raise InputError("a SelfTraining fitted around a scikit-learn estimator cannot be "
                             "saved: fewlabels writes only Keras models, which load without "
                             "running code. Keep it in memory, or fit it again.")
        super().save(directory, extra_config=extra_config)

    # -- stages and loading -----------------------------------------------------------------

    def _model_for(self, stage: str):
        if stage == "before_finetune":
            model = getattr(self, "pre_finetune_model_", None)
            if model is None:
                raise InputError("no pre-fine-tuning model: fine-tuning did not run.")
            return model
        if stage != "final":
            raise InputError(f"stage must be 'final' or 'before_finetune'; got {stage!r}.")
        return self.model_

    def _after_load(self) -> None:
        self.pre_finetune_model_ = None
