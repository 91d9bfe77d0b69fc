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

import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from fewlabels import params as p
from fewlabels.augment import POLICIES
from fewlabels.data.splits import stratified_split
from fewlabels.errors import FewLabelsError, FewLabelsWarning
from fewlabels.estimator import Estimator
from fewlabels.networks import MODELS, build_network, choose_network
from fewlabels.selection import COLLAPSE_FACTOR, select_pseudo_labels, targets
from fewlabels.validation import check_features, check_training_data

if TYPE_CHECKING:
    from fewlabels.checkpoint import CheckpointPolicy, TrainingRecorder


class SelfTraining(Estimator):
    """A self-training classifier: learns from labeled and unlabeled rows or images.

    With `rounds=0` it is the plain supervised MLP, trained by the same code: the baseline.

    Args:
        model: the network. `"auto"` (default): `"mlp"` for feature rows, `"cnn"` for images,
            `"transfer"` when `backbone` is set. For images `(n, height, width, channels)` in
            0..255: `"cnn"` (compact CNN), `"wrn"` (WRN-28-2) or `"transfer"` (a pretrained
            `keras.applications` backbone with a new head, see `backbone`).
        backbone: for transfer learning, a `keras.applications` name (`"MobileNetV2"`,
            `"ResNet50"`, `"EfficientNetV2B0"`, ...). Setting it selects `model="transfer"`.
        weights: the backbone's weights: `"imagenet"` (Keras's cache, `~/.keras/models`),
            a path to a weights file for the backbone, or `"none"` (random initialization).
        input_size: the side images are resized to inside a transfer model (default: the
            image side, raised to the backbone's minimum).
        unfreeze: transfer phase 2: unfreeze this many of the backbone's top layers (those
            with weights; BatchNormalization stays frozen and in inference mode) and train
            again at `unfreeze_learning_rate`. 0 keeps the backbone frozen (phase 1 only).
        unfreeze_learning_rate: the phase-2 learning rate (default: `learning_rate / 10`).
        head_units: transfer models: units of the head's hidden Dense layer.
        augment: for images, the augmentation policy applied to every training batch:
            `"none"`, `"classic"`, `"weak"` or `"strong"` (see `fewlabels.augment`).
        hidden_units: `"mlp"`: widths of the hidden layers.
        cnn_widths: `"cnn"`: filters of its stages (two 3x3 convolutions each). Narrower
            stages cost quadratically less per image: (16, 32, 64) is about 4x cheaper than
            the default (32, 64, 128).
        activation: `"mlp"`: Keras activation of the hidden layers.
        dropout: dropout rate (`"mlp"`: after each hidden layer; `"cnn"`: before the head).
        learning_rate: Adam's learning rate.
        batch_size: training batch size.
        epochs: the most epochs per training stage (early stopping usually ends sooner).
        patience: epochs without validation improvement before a stage stops.
        min_steps: optimizer steps a training stage runs before early stopping may act. With
            a few validation rows, the validation loss often bottoms out after a few epochs,
            which would leave the model underfit (see docs/self-training.md).
        validation_fraction: share of each labeled class held out for early stopping.
        criterion: `"threshold"` (accept confidence >= `threshold`) or `"k_best"` (accept the
            `k_best` most confident rows per predicted class and round).
        threshold: the confidence floor for `"threshold"`.
        k_best: rows per class and round for `"k_best"`.
        class_balance: share each round's pseudo-labels among classes by the labeled prior:
            the criterion sets how many rows a round accepts, and each class takes its share
            from its own most confident predictions. This caps a class the model
            over-predicts and keeps a hard class from starving.
        soft_labels: train on the predicted probabilities instead of one-hot pseudo-labels.
        pseudo_weight: sample weight of pseudo-labeled rows (labeled rows weigh 1).
        rounds: the most pseudo-labeling rounds (0: supervised only).
        warm_start: continue training the previous round's model instead of a fresh one.
        finetune: fine-tune on the labeled rows after the last round.
        finetune_epochs: the most fine-tuning epochs.
        finetune_learning_rate: the fine-tuning learning rate (default: `learning_rate / 10`).
        seed: seeds weights, shuffling, dropout and the validation split.
        deterministic: enable TensorFlow op determinism, so a seed reproduces exactly.
        verbose: Keras progress output: 0 silent, 1 progress bars, 2 one line per epoch.

    Example:
    ```python
    from fewlabels import SelfTraining
    from fewlabels.data import load_table

    table = load_table("data.csv")            # -1 marks unlabeled rows
    model = SelfTraining(threshold=0.9).fit(table.x, table.y, classes=table.classes)
    model.predict(x_new)                        # class indices; model.classes_ names them
    model.save("run/")
    ```
    """

    _parameter_constraints: ClassVar[dict] = {
        "model": p.one_of(*MODELS),
        "backbone": p.optional(p.nonempty_string),
        "weights": p.nonempty_string,
        "input_size": p.optional(p.interval(int, 8, None)),
        "unfreeze": p.interval(int, 0, None),
        "unfreeze_learning_rate": p.optional(p.interval(float, 0.0, None, "neither")),
        "head_units": p.interval(int, 1, None),
        "augment": p.one_of(*POLICIES),
        "hidden_units": p.int_sequence(1),
        "cnn_widths": p.int_sequence(1),
        "activation": p.nonempty_string,
        "dropout": p.interval(float, 0.0, 1.0, "left"),
        "learning_rate": p.interval(float, 0.0, None, "neither"),
        "batch_size": p.interval(int, 1, None),
        "epochs": p.interval(int, 1, None),
        "patience": p.interval(int, 0, None),
        "min_steps": p.interval(int, 0, None),
        "validation_fraction": p.interval(float, 0.0, 1.0, "left"),
        "criterion": p.one_of("threshold", "k_best"),
        "threshold": p.interval(float, 0.0, 1.0),
        "k_best": p.interval(int, 1, None),
        "class_balance": p.boolean,
        "soft_labels": p.boolean,
        "pseudo_weight": p.interval(float, 0.0, None),
        "rounds": p.interval(int, 0, None),
        "warm_start": p.boolean,
        "finetune": p.boolean,
        "finetune_epochs": p.interval(int, 1, None),
        "finetune_learning_rate": p.optional(p.interval(float, 0.0, None, "neither")),
        "seed": p.interval(int, 0, 2**32 - 1),
        "deterministic": p.boolean,
        "verbose": p.one_of(0, 1, 2),
    }

    def __init__(
        self,
        *,
        model: str = "auto",
        backbone: str | None = None,
        weights: str = "imagenet",
        input_size: int | None = None,
        unfreeze: int = 20,
        unfreeze_learning_rate: float | None = None,
        head_units: int = 256,
        augment: str = "none",
        hidden_units: Sequence[int] = (64, 64),
        cnn_widths: Sequence[int] = (32, 64, 128),
        activation: str = "relu",
        dropout: float = 0.1,
        learning_rate: float = 1e-3,
        batch_size: int = 32,
        epochs: int = 200,
        patience: int = 20,
        min_steps: int = 300,
        validation_fraction: float = 0.2,
        criterion: str = "threshold",
        threshold: float = 0.9,
        k_best: int = 10,
        class_balance: bool = True,
        soft_labels: bool = False,
        pseudo_weight: float = 1.0,
        rounds: int = 5,
        warm_start: bool = False,
        finetune: bool = True,
        finetune_epochs: int = 30,
        finetune_learning_rate: float | None = None,
        seed: int = 0,
        deterministic: bool = True,
        verbose: int = 0,
    ) -> None:
        self.model = model
        self.backbone = backbone
        self.weights = weights
        self.input_size = input_size
        self.unfreeze = unfreeze
        self.unfreeze_learning_rate = unfreeze_learning_rate
        self.head_units = head_units
        self.augment = augment
        self.hidden_units = tuple(hidden_units) if isinstance(hidden_units, list) else hidden_units
        self.cnn_widths = tuple(cnn_widths) if isinstance(cnn_widths, list) else cnn_widths
        self.activation = activation
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.min_steps = min_steps
        self.validation_fraction = validation_fraction
        self.criterion = criterion
        self.threshold = threshold
        self.k_best = k_best
        self.class_balance = class_balance
        self.soft_labels = soft_labels
        self.pseudo_weight = pseudo_weight
        self.rounds = rounds
        self.warm_start = warm_start
        self.finetune = finetune
        self.finetune_epochs = finetune_epochs
        self.finetune_learning_rate = finetune_learning_rate
        self.seed = seed
        self.deterministic = deterministic
        self.verbose = verbose

    # -- fitting ----------------------------------------------------------------------------

    def fit(
        self,
        X,
        y,
        *,
        classes: Sequence | None = None,
        validation_data: tuple | None = None,
        y_hidden=None,
        checkpoint: CheckpointPolicy | None = None,
    ) -> SelfTraining:
        """Fit on labeled and unlabeled rows.

        Args:
            X: features, `(n_samples, n_features)`.
            y: class indices into `classes`, -1 for unlabeled rows; or one-hot rows
                `(n_samples, n_classes)`, all zeros for unlabeled rows.
            classes: the class values (names); default `0 .. max(y)`.
            validation_data: `(X_val, y_val)` for early stopping, instead of holding out
                `validation_fraction` of the labeled rows.
            y_hidden: the true labels of the unlabeled rows, when known (benchmarks). Used
                only to report pseudo-label accuracy, never to train.
            checkpoint: write a checkpoint at every epoch end of every stage (and resume
                from one): see `fewlabels.checkpoint.CheckpointPolicy`. The checkpoint also
                holds the rounds so far (pseudo-labels, records), so a resumed run continues
                inside the stage it stopped in and ends as an uninterrupted one.

        Returns:
            `self`, fitted.
        """
        import keras

        from fewlabels import training
        from fewlabels.checkpoint import array_fingerprint

        p.validate_params(self)
        X_arr = np.asarray(X)
        network = self.network_for(X_arr.ndim)
        images = network != "mlp"
        if self.augment != "none" and not images:
            raise FewLabelsError(
                f"augment={self.augment!r} needs images: pass (n, height, width, channels) "
                "arrays with model='auto', 'cnn', 'wrn' or 'transfer'."
            )
        X, y, classes = check_training_data(X_arr, y, classes, images=images)
        n_classes = len(classes)
        if y_hidden is not None:
            y_hidden = np.asarray(y_hidden, dtype=np.int64)
            if y_hidden.shape != y.shape:
                raise FewLabelsError(
                    f"y_hidden has shape {y_hidden.shape}; expected {y.shape} like y."
                )

        labeled = np.flatnonzero(y >= 0)
        if validation_data is not None:
            x_val = check_features(validation_data[0], n_features=X.shape[1], name="X_val",
                                   images=images, input_shape=X.shape[1:])
            y_val = np.asarray(validation_data[1], dtype=np.int64)
            if len(y_val) != len(x_val) or np.any((y_val < 0) | (y_val >= n_classes)):
                raise FewLabelsError(
                    "validation_data labels must be class indices, one per row of X_val."
                )
            train_rows = labeled
        else:
            kept, held = stratified_split(y[labeled], self.validation_fraction, self.seed)
            train_rows, val_rows = labeled[kept], labeled[held]
            x_val, y_val = X[val_rows], y[val_rows]

        training.seed_everything(self.seed, self.deterministic)
        onehot = np.eye(n_classes, dtype=np.float32)
        validation = (x_val, onehot[y_val]) if len(y_val) else None
        prior = np.bincount(y[train_rows], minlength=n_classes) / len(train_rows)

        def new_model(stage: int):
            # Seeded per stage, so a run resumed in stage k builds what an uninterrupted
            # run builds there, whatever the random state of the process.
            keras.utils.set_random_seed(self.seed + 7919 * stage)
            return build_network(network, X, n_classes, self.get_params())

        policy = None
        if self.augment != "none":
            from fewlabels.augment import build_policy, plain_background

            policy = build_policy(self.augment, seed=self.seed,
                                  background=plain_background(X))

        stage_args = dict(
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            epochs=self.epochs,
            patience=self.patience,
            min_steps=self.min_steps,
            augment=policy,
            seed=self.seed,
            verbose=self.verbose,
            validation=validation,
        )
        n_labeled_train = len(train_rows)
        journal = _Journal(len(X), n_classes, y)
        checkpoints = None
        if checkpoint is not None:
            settings = {k: v for k, v in self.get_params().items() if k != "verbose"}
            checkpoints = StageCheckpoints(checkpoint, journal, {
                "estimator": type(self).__name__, "classes": [str(c) for c in classes],
                "params": settings, "data": array_fingerprint(X, y, train_rows),
            })
        resume_at = journal.stage_number(self.rounds) if checkpoints and checkpoints.resuming \
            else -1
        stage_args["checkpoint"] = checkpoints

        def fresh_model(stage: int):
            model = new_model(stage)
            if journal.unfrozen:  # a resumed transfer model that phase 2 had unfrozen
                from fewlabels.models.transfer import unfreeze_top

                unfreeze_top(model, self.unfreeze)
                model._fewlabels_unfrozen = True
            return model

        def run_stage(name: str, model, x_fit, t_fit, **kwargs) -> dict:
            journal.stage = name
            return self._train_stage(network, model, x_fit, t_fit, journal=journal,
                                     **{**stage_args, **kwargs})

        self._say(f"Training on {n_labeled_train} labeled rows "
                  f"({len(y_val)} held out for validation).")
        model = fresh_model(resume_at) if resume_at >= 0 else new_model(0)
        if resume_at <= 0:
            stage = run_stage("initial", model, X[train_rows], onehot[y[train_rows]])
            journal.stages.append({"stage": "initial", "rows": n_labeled_train, **stage})

        if not np.any(y < 0):
            journal.termination = "all_labeled"
        for r in range(max(1, resume_at), self.rounds + 1):
            if journal.termination != "max_iter":
                break
            if r > resume_at:  # (a resumed round selected its pseudo-labels before the kill)
                pool = np.flatnonzero(journal.labeled_iter == -1)
                if len(pool) == 0:
                    journal.termination = "all_labeled"
                    break
                journal.round_start = time.perf_counter()
                proba = training.predict_proba(model, X[pool])
                chosen = select_pseudo_labels(
                    proba,
                    criterion=self.criterion,
                    threshold=self.threshold,
                    k_best=self.k_best,
                    prior=prior if self.class_balance else None,
                )
                if len(chosen) == 0:
                    journal.termination = "no_change"
                    self._say(f"Round {r}: no unlabeled row reached the acceptance criterion; "
                              "stop.")
                    break
                rows = pool[chosen]
                journal.labeled_iter[rows] = r
                journal.transduction[rows] = proba[chosen].argmax(axis=1)
                journal.pseudo_targets[rows] = targets(proba[chosen], self.soft_labels)
                journal.record = self._round_record(r, rows, proba[chosen], classes, prior,
                                                    y_hidden, journal.transduction,
                                                    journal.labeled_iter)
                self._say(
                    f"Round {r}: accepted {len(rows)} pseudo-labels "
                    f"(mean confidence {journal.record['mean_confidence']:.3f}); retraining on "
                    f"{n_labeled_train + int(np.sum(journal.labeled_iter > 0))} rows."
                )
            pseudo_rows = np.flatnonzero(journal.labeled_iter > 0)
            x_fit = np.concatenate([X[train_rows], X[pseudo_rows]])
            t_fit = np.concatenate([onehot[y[train_rows]], journal.pseudo_targets[pseudo_rows]])
            w_fit = np.concatenate([
                np.ones(n_labeled_train, np.float32),
                np.full(len(pseudo_rows), self.pseudo_weight, np.float32),
            ])
            if not self.warm_start and r > resume_at:
                model = new_model(r)
                journal.unfrozen = False
            stage = run_stage(f"round_{r}", model, x_fit, t_fit, sample_weight=w_fit)
            journal.stages.append({"stage": f"round_{r}", "rows": len(x_fit), **stage})
            record = journal.record
            record["validation"] = _scores(training.predict_proba(model, x_val), y_val)
            record["wall_s"] = round(time.perf_counter() - journal.round_start, 3)
            journal.rounds.append(record)
            journal.n_iter = r

        self.pre_finetune_model_ = None
        if self.finetune and journal.n_iter > 0:
            if resume_at == self.rounds + 1:
                self.pre_finetune_model_ = new_model(self.rounds + 1)
                self.pre_finetune_model_.set_weights(journal.pre_finetune)
            else:
                self.pre_finetune_model_ = training.copy_model(model)
                journal.pre_finetune = self.pre_finetune_model_.get_weights()
                journal.before = _scores(training.predict_proba(model, x_val), y_val)
            self._say(f"Fine-tuning on the {n_labeled_train} labeled rows.")
            journal.stage = "finetune"
            stage = training.train_stage(
                model,
                X[train_rows],
                onehot[y[train_rows]],
                **{
                    **stage_args,
                    "learning_rate": self.finetune_learning_rate or self.learning_rate / 10,
                    "epochs": self.finetune_epochs,
                    "min_steps": 0,  # kept only if it beats the pre-fine-tune validation loss
                },
            )
            before = journal.before
            after = _scores(training.predict_proba(model, x_val), y_val)
            kept = before["loss"] is None or after["loss"] <= before["loss"]
            if not kept:
                model.set_weights(self.pre_finetune_model_.get_weights())
            journal.stages.append({
                "stage": "finetune",
                "rows": n_labeled_train,
                "validation_before": before,
                "validation_after": after,
                "kept": kept,
                **stage,
            })
        stages, round_records = journal.stages, journal.rounds
        transduction, labeled_iter = journal.transduction, journal.labeled_iter
        n_iter, termination = journal.n_iter, journal.termination

        self.model_ = model
        self.network_ = network
        self.classes_ = list(classes)
        self.input_shape_ = tuple(int(d) for d in X.shape[1:])
        if not images:
            self.n_features_in_ = X.shape[1]
        self.transduction_ = transduction
        self.labeled_iter_ = labeled_iter
        self.n_iter_ = n_iter
        self.termination_condition_ = termination
        self.rounds_ = round_records
        self.stages_ = stages
        self.epochs_run_ = int(sum(s["epochs"] for s in stages))
        self.n_train_labeled_ = n_labeled_train
        self.n_validation_ = len(y_val)
        return self

    def network_for(self, ndim: int) -> str:
        """The network `fit` builds for inputs of `ndim` dimensions (2: rows, 4: images)."""
        return choose_network(self.model, self.backbone, ndim)

    def _train_stage(self, network: str, model, x, targets, *, journal: _Journal,
                     **kwargs) -> dict:
        """One training stage; for a transfer model, phase 1 (frozen) then phase 2.

        Phase 2 unfreezes the backbone's top `unfreeze` layers (BatchNormalization stays
        frozen and in inference mode) and trains again at `unfreeze_learning_rate`, with the
        same early stopping on validation. A model already unfrozen (a later stage on the same
        model) trains at the phase-2 rate. A run resumed in phase 2 skips phase 1 (its record
        is in the checkpoint).
        """
        from fewlabels import training
        from fewlabels.models.transfer import unfreeze_top

        journal.phase = 0
        if network != "transfer" or self.unfreeze == 0:
            return training.train_stage(model, x, targets, **kwargs)
        slow = self.unfreeze_learning_rate or kwargs["learning_rate"] / 10
        if getattr(model, "_fewlabels_unfrozen", False) and journal.phase_record is None:
            return training.train_stage(model, x, targets, **{**kwargs, "learning_rate": slow})
        if journal.phase_record is None:  # (else: resumed in phase 2, already unfrozen)
            frozen = training.train_stage(model, x, targets, **kwargs)
            journal.phase_record = {**frozen, "unfrozen_layers": unfreeze_top(model,
                                                                              self.unfreeze)}
            model._fewlabels_unfrozen = True
        frozen = dict(journal.phase_record)
        unfrozen_layers = frozen.pop("unfrozen_layers")
        journal.phase, journal.unfrozen = 1, True
        tuned = training.train_stage(model, x, targets, **{**kwargs, "learning_rate": slow,
                                                            "min_steps": 0})
        journal.phase_record = None
        return {
            "epochs": frozen["epochs"] + tuned["epochs"],
            "best_epoch": frozen["epochs"] + tuned["best_epoch"],
            "wall_s": round(frozen["wall_s"] + tuned["wall_s"], 3),
            "history": tuned["history"],
            "phases": [
                {"phase": "frozen backbone", **frozen},
                {"phase": f"top {unfrozen_layers} backbone layers unfrozen, learning rate "
                          f"{slow:g}", **tuned},
            ],
        }

    def _round_record(self, r, rows, proba, classes, prior, y_hidden, transduction,
                      labeled_iter) -> dict:
        pred = proba.argmax(axis=1)
        counts = np.bincount(pred, minlength=len(classes))
        record: dict[str, Any] = {
            "round": r,
            "accepted": len(rows),
            "accepted_per_class": {str(c): int(n) for c, n in zip(classes, counts, strict=True)},
            "mean_confidence": round(float(proba.max(axis=1).mean()), 6),
            "pseudo_labeled_total": int(np.sum(labeled_iter > 0)),
        }
        share = counts / counts.sum()
        too_many = share > COLLAPSE_FACTOR * np.maximum(prior, 1e-9)
        over = [str(classes[c]) for c in np.flatnonzero(too_many)
                if counts[c] >= 10 and prior[c] < 0.5]
        if over:
            warnings.warn(
                f"round {r}: pseudo-labels pile onto class(es) {over} (more than "
                f"{COLLAPSE_FACTOR:g}x their labeled share). Consider class_balance=True or a "
                "higher threshold.",
                FewLabelsWarning,
                stacklevel=3,
            )
        if y_hidden is not None:
            truth = y_hidden[rows]
            known = truth >= 0
            record["pseudo_label_accuracy"] = (
                round(float(np.mean(pred[known] == truth[known])), 6) if known.any() else None
            )
            all_rows = np.flatnonzero((labeled_iter > 0) & (y_hidden >= 0))
            record["pseudo_label_accuracy_total"] = (
                round(float(np.mean(transduction[all_rows] == y_hidden[all_rows])), 6)
                if len(all_rows) else None
            )
        return record

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)

    # -- stages and loading -----------------------------------------------------------------

    def _model_for(self, stage: str):
        if stage == "before_finetune":
            model = getattr(self, "pre_finetune_model_", None)
            if model is None:
                raise FewLabelsError("no pre-fine-tuning model: fine-tuning did not run.")
            return model
        if stage != "final":
            raise FewLabelsError(f"stage must be 'final' or 'before_finetune'; got {stage!r}.")
        return self.model_

    def _after_load(self) -> None:
        self.pre_finetune_model_ = None

    # -- what a run reports (fewlabels.workflow) --------------------------------------------

    def method_name(self) -> str:
        """`"supervised"` with `rounds=0`, else `"self-training"`."""
        return "supervised" if self.rounds == 0 else "self-training"

    def supervised_baseline(self) -> SelfTraining:
        """The supervised-only model with the same epoch budget (unfitted)."""
        budget = max(self.epochs, getattr(self, "epochs_run_", 0))
        return type(self)(**{**self.get_params(), "epochs": budget, "rounds": 0,
                             "finetune": False})

    def budget(self) -> str:
        """The training budget, in words."""
        return f"budget: {self.epochs} epochs"

    def result_stages(self) -> list[tuple[str, str]]:
        """`(row name, evaluate stage)` for each model a run scores."""
        if self.rounds == 0:
            return [("supervised", "final")]
        stages = []
        if getattr(self, "pre_finetune_model_", None) is not None:
            stages.append(("self-training (before fine-tune)", "before_finetune"))
        return [*stages, ("self-training", "final")]

    def run_summary(self) -> dict:
        """Labeled and pseudo-labeled rows, epochs and training time of the fit."""
        self._check_fitted()
        return {"labeled": self.n_train_labeled_,
                "pseudo_labeled": int(np.sum(self.labeled_iter_ > 0)),
                "epochs": self.epochs_run_,
                "wall_s": round(sum(s["wall_s"] for s in self.stages_), 3)}

    def history_record(self) -> dict:
        """What `history.json` keeps: every round and every training stage."""
        return {"estimator": "SelfTraining", "n_iter": self.n_iter_,
                "termination_condition": self.termination_condition_,
                "rounds": self.rounds_, "stages": self.stages_}


def _scores(proba: np.ndarray, y: np.ndarray) -> dict:
    """Validation loss and accuracy (None when there are no validation rows)."""
    if len(y) == 0:
        return {"loss": None, "accuracy": None}
    p = np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0)
    return {
        "loss": round(float(-np.mean(np.log(p))), 6),
        "accuracy": round(float(np.mean(proba.argmax(axis=1) == y)), 6),
    }


class _Journal:
    """What a self-training run has done so far, beyond the network: checkpointed with it.

    `stage` is the stage in progress (`initial`, `round_<r>`, `finetune`) and `phase` its
    transfer phase; `steps_done` the optimizer steps of the finished stages (checkpoints are
    numbered across stages). The rest is the fit's own state: the pseudo-labels
    (`transduction`, `labeled_iter`, `pseudo_targets`), the records of finished stages and
    rounds, the current round's record, and for fine-tuning the weights before it.
    """

    def __init__(self, n: int, n_classes: int, y: np.ndarray) -> None:
        self.stage, self.phase, self.steps_done = "initial", 0, 0
        self.transduction = y.copy()
        self.labeled_iter = np.where(y >= 0, 0, -1)
        self.pseudo_targets = np.zeros((n, n_classes), dtype=np.float32)
        self.stages: list[dict] = []
        self.rounds: list[dict] = []
        self.record: dict = {}
        self.n_iter, self.termination = 0, "max_iter"
        self.round_start = time.perf_counter()
        self.phase_record: dict | None = None
        self.unfrozen = False
        self.before: dict = {}
        self.pre_finetune: list = []

    def stage_number(self, rounds: int) -> int:
        """0 for `initial`, r for `round_<r>`, `rounds + 1` for `finetune`."""
        if self.stage == "initial":
            return 0
        if self.stage == "finetune":
            return rounds + 1
        return int(self.stage.split("_")[1])

    def get_state(self) -> dict:
        keys = ("stage", "phase", "steps_done", "stages", "rounds", "record", "n_iter",
                "termination", "phase_record", "unfrozen", "before")
        return {**{k: getattr(self, k) for k in keys}, "n_pre_finetune": len(self.pre_finetune),
                "arrays": [self.transduction, self.labeled_iter, self.pseudo_targets,
                           *self.pre_finetune]}

    def set_state(self, state: dict) -> None:
        state = dict(state)
        arrays = state.pop("arrays")
        state.pop("n_pre_finetune")
        for key, value in state.items():
            setattr(self, key, value)
        self.transduction, self.labeled_iter, self.pseudo_targets = arrays[:3]
        self.pre_finetune = list(arrays[3:])
        self.round_start = time.perf_counter()


class StageCheckpoints:
    """Checkpoints of a multi-stage run: one recorder per stage, one store, one journal.

    Args:
        policy: the checkpoint policy.
        journal: the run's journal (saved in every checkpoint).
        fingerprint: what defines the run.
    """

    def __init__(self, policy: CheckpointPolicy, journal: _Journal, fingerprint: dict) -> None:
        from fewlabels.checkpoint import (
            CheckpointStore,
            check_fingerprint,
            refuse_earlier_run,
            stateful_states,
        )

        self.policy = policy
        self.journal = journal
        self.fingerprint = fingerprint
        self.store = CheckpointStore(policy.directory, policy.keep)
        self.pending = None
        if policy.resume:
            self.pending = self.store.latest()
            arrays, meta, _ = self.pending
            check_fingerprint({k: v for k, v in meta.get("fingerprint", {}).items()
                               if k not in ("architecture", "stage", "phase")}, fingerprint)
            journal.set_state(stateful_states(arrays, meta)["journal"])
        else:
            refuse_earlier_run(self.store)

    @property
    def resuming(self) -> bool:
        """Whether this run continues a checkpoint."""
        return self.pending is not None

    def recorder(self, model, stopper) -> TrainingRecorder:
        """The recorder of the stage starting now (restored if the run resumes in it)."""
        from fewlabels.checkpoint import (
            TrainingRecorder,
            architecture_fingerprint,
            state_variables,
        )

        variables, n_metrics = state_variables(model)
        recorder = TrainingRecorder(
            variables, store=self.store,
            fingerprint={**self.fingerprint, "stage": self.journal.stage,
                         "phase": self.journal.phase,
                         "architecture": architecture_fingerprint(variables)},
            every_steps=self.policy.every_steps, every_seconds=self.policy.every_seconds,
            stateful={"stopper": stopper, "journal": self.journal},
            offset=self.journal.steps_done, n_metric_variables=n_metrics)
        if self.pending is not None:
            recorder.resume_from(*self.pending)
            self.pending = None
        return recorder

    def stage_done(self, recorder: TrainingRecorder) -> None:
        """Number the next stage's checkpoints after this one's."""
        self.journal.steps_done = recorder.offset + recorder.step
