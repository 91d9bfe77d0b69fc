"""The steps of one self-training fit, and the journal that lets it resume exactly.

`SelfTraining.fit` validates its parameters, then runs `SelfTrainingRun`: the initial stage
on the labeled rows, the pseudo-labeling rounds, fine-tuning, and finally `fitted`, which
sets the estimator's fitted attributes. Every step records what it did in the `Journal`, which
each checkpoint holds, so a run killed in any stage resumes inside it.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from fewlabels.data.splits import stratified_split
from fewlabels.errors import FewLabelsWarning, InputError
from fewlabels.estimators.labels import encode_hidden, encode_labels, labels_of
from fewlabels.estimators.selection import pseudo_targets, select_pseudo_labels
from fewlabels.metrics import dominant_classes
from fewlabels.models.chooser import build_network, pretrained
from fewlabels.training.stages import StageJournal
from fewlabels.validation import (
    check_dense,
    check_features,
    check_sample_weight,
    check_training_data,
)

DEFAULT_UNFREEZE = 20
"""The backbone's top layers phase 2 unfreezes when `unfreeze` is unset."""


class SelfTrainingRun:
    """One `SelfTraining.fit`: the checked data, the journal, and the model being trained.

    Args:
        estimator: the `SelfTraining` being fitted (its parameters are read, never changed
            until `fitted`).
        X, y, classes, validation_data, y_hidden, checkpoint, sample_weight: as
            `SelfTraining.fit` takes them.
    """

    for_learner = False
    """Whether the learner is a scikit-learn classifier, which takes sparse rows and float64."""

    def __init__(self, estimator, X, y, classes, *, validation_data, y_hidden, checkpoint,
                 sample_weight=None) -> None:
        from fewlabels import training

        self.est = est = estimator
        self.net, self.stop, self.sel = (est._spec(k) for k in ("model", "stopping", "selection"))
        self.tune, self.budget_s = est._spec("finetune"), est._spec("budget").seconds
        if not (self.for_learner and hasattr(X, "tocsr")):  # (a learner takes sparse rows)
            check_dense(X)
            X = np.asarray(X)
        self.network = est.network_for(X.ndim)
        images = X.ndim >= 3
        if est.augment != "none" and not images:
            raise InputError(
                f"augment={est.augment!r} needs images: pass (n, height, width, channels) "
                "arrays with model='auto', 'cnn', 'wrn' or 'transfer'."
            )
        y, labels = encode_labels(y, classes)
        self.X, self.y, self.classes = check_training_data(X, y, labels, images=images,
                                                           for_learner=self.for_learner)
        self.y_hidden = self._check_hidden(encode_hidden(y_hidden, classes, self.classes))
        self.weight = check_sample_weight(sample_weight, self.X.shape[0])
        n_unlabeled = int(np.sum(self.y < 0))
        # rounds=None: until all are labeled or none is accepted; each round labels a row.
        self.last_round = n_unlabeled if est.rounds is None else est.rounds
        if self.sel.criterion == "k_best" and self.sel.k_best > n_unlabeled:
            warnings.warn("k_best is larger than the amount of unlabeled samples. All "
                          "unlabeled samples will be labeled in the first iteration.",
                          UserWarning, stacklevel=4)
        self._split_validation(validation_data, images)
        training.seed_everything(est.seed)
        n_classes = len(self.classes)
        self.onehot = np.eye(n_classes, dtype=np.float32)
        self.prior = np.bincount(self.y[self.train_rows], minlength=n_classes) / len(
            self.train_rows)
        self.journal = Journal(self.X.shape[0], n_classes, self.y)
        self.checkpoints = self._checkpoints(checkpoint)
        self.stage_args = self._stage_args()
        resuming = self.checkpoints is not None and self.checkpoints.resuming
        if resuming and self.journal.plan is not None:  # the plan the run was sized by
            self._keep_planned_rounds()
        self.resume_at = self.journal.stage_number(self.last_round) if resuming else -1
        self.model = self._fresh_model(self.resume_at) if self.resume_at >= 0 else \
            self._new_model(0)
        if not resuming and self.budget_s is not None and not self.for_learner:
            self._plan_budget()
        elif not resuming and self.network == "transfer" and est.verbose:
            self._say_unbounded_plan()
        self.pre_finetune_model = None

    # -- set-up -------------------------------------------------------------------------------

    def _check_hidden(self, y_hidden):
        if y_hidden is None:
            return None
        y_hidden = np.asarray(y_hidden, dtype=np.int64)
        if y_hidden.shape != self.y.shape:
            raise InputError(f"y_hidden has shape {y_hidden.shape}; expected {self.y.shape} "
                             "like y.")
        return y_hidden

    def _split_validation(self, validation_data, images: bool) -> None:
        """`train_rows`, and the validation rows: given, or held out of each labeled class."""
        X, y, est = self.X, self.y, self.est
        labeled = np.flatnonzero(y >= 0)
        if validation_data is None:
            kept, held = stratified_split(y[labeled], self.stop.validation_fraction, est.seed)
            self.train_rows, val_rows = labeled[kept], labeled[held]
            self.x_val, self.y_val = X[val_rows], y[val_rows]
            return
        self.x_val = check_features(validation_data[0], n_features=X.shape[1], name="X_val",
                                    images=images, input_shape=X.shape[1:],
                                    for_learner=self.for_learner)
        self.y_val = np.asarray(validation_data[1], dtype=np.int64)
        if len(self.y_val) != self.x_val.shape[0] or np.any(
                (self.y_val < 0) | (self.y_val >= len(self.classes))):
            raise InputError("validation_data labels must be class indices, one per row of "
                             "X_val.")
        self.train_rows = labeled

    def _checkpoints(self, policy):
        if policy is None:
            return None
        from fewlabels.training.checkpoint import array_fingerprint
        from fewlabels.training.stages import StageCheckpoints

        settings = {k: v for k, v in self.est.params_json().items() if k != "verbose"}
        return StageCheckpoints(policy, self.journal, {
            "estimator": type(self.est).__name__,
            "classes": [str(c) for c in self.classes], "params": settings,
            "data": array_fingerprint(self.X, self.y, self.train_rows),
        })

    def _stage_args(self) -> dict:
        est = self.est
        views = est.training_views(self.X)
        policy = views[0][1] if views else None
        validation = (self.x_val, self.onehot[self.y_val]) if len(self.y_val) else None
        return dict(learning_rate=est.learning_rate, batch_size=est.batch_size,
                    epochs=self.stop.epochs, patience=self.stop.patience,
                    min_steps=self.stop.min_steps,
                    augment=policy, seed=est.seed, verbose=est.verbose,
                    validation=validation, checkpoint=self.checkpoints)

    def _new_model(self, stage: int):
        """A new network, seeded per stage, so that a run resumed in stage k builds what an
        uninterrupted run builds there, whatever the random state of the process."""
        import keras

        keras.utils.set_random_seed(self.est.seed + 7919 * stage)
        return build_network(self.network, self.X, len(self.classes), self.net)

    def _fresh_model(self, stage: int):
        """The network of a resumed stage, unfrozen as phase 2 had left it."""
        model = self._new_model(stage)
        if self.journal.unfrozen:
            from fewlabels.models.transfer import unfreeze_top

            unfreeze_top(model, self._unfreeze)
        return model

    def _plan_budget(self) -> None:
        """Size each stage's passes to share `budget_s` by rows, from a timed step, and say
        the plan before training."""
        from fewlabels.training.budget import plan_stages, seconds_per_step

        est, n_train = self.est, len(self.train_rows)
        n_all = n_train + int(np.sum(self.y < 0))
        stages = [("initial", n_train), *((f"round_{r}", n_all)
                                          for r in range(1, self.last_round + 1))]
        if self.tune is not None and self.last_round:
            stages.append(("finetune", n_train))
        step_s = seconds_per_step(self.model, self.X[self.train_rows],
                                  self.onehot[self.y[self.train_rows]],
                                  batch_size=est.batch_size, learning_rate=est.learning_rate)
        self.journal.plan = plan_stages(stages, budget_s=self.budget_s, step_s=step_s,
                                        batch_size=est.batch_size)
        self._keep_planned_rounds()
        epochs = self.journal.plan["epochs"]
        rounds = [n for n in epochs if n.startswith("round_")]
        self._say(f"Plan for budget_s={self.budget_s:g}: one step takes {step_s:.3f} s; the "
                  f"initial stage up to {epochs['initial']} passes over {n_train} "
                  f"{self._unit}, {len(rounds)} round(s) up to "
                  f"{epochs[rounds[0]] if rounds else 0} passes over up to {n_all}, "
                  + (f"fine-tuning up to {epochs['finetune']} passes"
                     if "finetune" in epochs else "no fine-tuning") + ".")

    def _say_unbounded_plan(self) -> None:
        """A backbone fit without a budget: say what a stage may cost before it starts."""
        from fewlabels.training.budget import seconds_per_step

        est = self.est
        step_s = seconds_per_step(self.model, self.X[self.train_rows],
                                  self.onehot[self.y[self.train_rows]],
                                  batch_size=est.batch_size, learning_rate=est.learning_rate)
        n_all = len(self.train_rows) + int(np.sum(self.y < 0))
        worst = self.stop.epochs * -(-n_all // est.batch_size) * step_s
        self._say(f"Plan: the initial stage and up to {self.last_round} round(s), each up to "
                  f"{self.stop.epochs} passes (early stopping after {self.stop.patience} without "
                  f"improvement); one step takes {step_s:.3f} s, so a round over {n_all} "
                  f"{self._unit} may take up to {worst / 60:.0f} min. Pass budget_s "
                  "(--budget-s) to bound the whole fit.")

    def _keep_planned_rounds(self) -> None:
        """The rounds the budget's plan keeps (a round too short to learn is left out)."""
        planned = [n for n in self.journal.plan["epochs"] if n.startswith("round_")]
        self.last_round = min(self.last_round, len(planned))

    def _epochs(self, stage: str, default: int) -> int:
        """The most passes of `stage`: the budget's plan, else `default`."""
        plan = self.journal.plan
        return default if plan is None else plan["epochs"].get(stage, default)

    # -- the steps ----------------------------------------------------------------------------

    def initial_stage(self) -> None:
        """Train on the labeled rows (unless the run resumes after this stage)."""
        n = len(self.train_rows)
        self._say(f"Training on {n} labeled {self._unit} ({len(self.y_val)} held out for "
                  "validation).")
        if self.resume_at <= 0:
            stage = self._run_stage("initial", self.X[self.train_rows],
                                    self.onehot[self.y[self.train_rows]],
                                    sample_weight=self._labeled_weight(),
                                    epochs=self._epochs("initial", self.stop.epochs))
            self.journal.stages.append({"stage": "initial", "rows": n, **stage})
        if not np.any(self.y < 0):
            self.journal.termination = "all_labeled"

    def pseudo_label_rounds(self) -> None:
        """Label confident unlabeled rows and retrain, round by round, until a stop."""
        journal = self.journal
        for r in range(max(1, self.resume_at), self.last_round + 1):
            if journal.termination != "max_iter":
                break
            # A resumed round selected its pseudo-labels before the kill.
            if r > self.resume_at and not self._select(r):
                break
            self._train_round(r)
        if journal.termination == "max_iter" and not np.any(journal.labeled_iter == -1):
            journal.termination = "all_labeled"  # (scikit-learn's order: this one wins)

    def _select(self, r: int) -> bool:
        """Round `r`'s pseudo-labels, into the journal; False when the rounds must stop."""
        journal = self.journal
        pool = np.flatnonzero(journal.labeled_iter == -1)
        if len(pool) == 0:
            journal.termination = "all_labeled"
            return False
        journal.round_start = time.perf_counter()
        proba = self._proba(self.X[pool])
        # (calibrate=None: wherever there are validation rows; estimator= keeps none then)
        calibrated = (self._calibration(proba) if self.sel.calibrate is not False
                      and len(self.y_val) else None)
        if calibrated is not None:
            proba = calibrated.pop("proba")
        chosen = select_pseudo_labels(proba, criterion=self.sel.criterion,
                                      threshold=self.sel.threshold, k_best=self.sel.k_best,
                                      prior=self.prior if self.sel.class_balance else None)
        if len(chosen) == 0:
            journal.termination, journal.n_iter = "no_change", r  # counted, as scikit-learn
            self._say(f"End of iteration {r}, added 0 new labels: no unlabeled example "
                      "reached the acceptance criterion; stop.")
            return False
        rows = pool[chosen]
        journal.labeled_iter[rows] = r
        journal.transduction[rows] = proba[chosen].argmax(axis=1)
        journal.pseudo_targets[rows] = pseudo_targets(proba[chosen], self.sel.soft_labels)
        journal.record = self._round_record(r, rows, proba[chosen])
        if calibrated is not None:
            journal.record["calibration"] = calibrated
        total = len(self.train_rows) + int(np.sum(journal.labeled_iter > 0))
        self._say(f"End of iteration {r}, added {len(rows)} new labels. (Mean confidence "
                  f"{journal.record['mean_confidence']:.3f}; retraining on {total} "
                  f"{self._unit}.)")
        return True

    def _train_round(self, r: int) -> None:
        """Retrain on the labeled and pseudo-labeled rows, and record the round."""
        est, journal = self.est, self.journal
        pseudo_rows = np.flatnonzero(journal.labeled_iter > 0)
        x_fit = self.X[np.concatenate([self.train_rows, pseudo_rows])]
        t_fit = np.concatenate([self.onehot[self.y[self.train_rows]],
                                journal.pseudo_targets[pseudo_rows]])
        labeled = self._labeled_weight()
        w_fit = np.concatenate([np.ones(len(self.train_rows), np.float32) if labeled is None
                                else labeled,
                                np.full(len(pseudo_rows), self.sel.pseudo_weight, np.float32)])
        if not est.warm_start and r > self.resume_at:
            self.model = self._new_model(r)
            journal.unfrozen = False
        stage = self._run_stage(f"round_{r}", x_fit, t_fit, sample_weight=w_fit,
                                epochs=self._epochs(f"round_{r}", self.stop.epochs))
        journal.stages.append({"stage": f"round_{r}", "rows": x_fit.shape[0], **stage})
        record = journal.record
        record["validation"] = _scores(self._proba(self.x_val), self.y_val)
        record["wall_s"] = round(time.perf_counter() - journal.round_start, 3)
        journal.rounds.append(record)
        journal.n_iter = r

    def finetune(self) -> None:
        """Fine-tune on the labeled rows; keep it only if validation loss does not rise."""
        from fewlabels import training

        est, journal = self.est, self.journal
        if self.tune is None or not np.any(journal.labeled_iter > 0):
            return
        if self.resume_at == self.last_round + 1:
            self.pre_finetune_model = self._new_model(self.last_round + 1)
            self.pre_finetune_model.set_weights(journal.pre_finetune)
        else:
            self.pre_finetune_model = training.copy_model(self.model)
            journal.pre_finetune = self.pre_finetune_model.get_weights()
            journal.before = self._validation_scores()
        n = len(self.train_rows)
        self._say(f"Fine-tuning on the {n} labeled {self._unit}.")
        journal.stage = "finetune"
        stage = training.train_stage(
            self.model, self.X[self.train_rows], self.onehot[self.y[self.train_rows]],
            sample_weight=self._labeled_weight(),
            **{**self.stage_args,
               "learning_rate": self.tune.learning_rate or est.learning_rate / 10,
               "epochs": self._epochs("finetune", self.tune.epochs),
               "min_steps": 0})  # kept only if it beats the pre-fine-tune validation loss
        before, after = journal.before, self._validation_scores()
        kept = before["loss"] is None or after["loss"] <= before["loss"]
        if not kept:
            self.model.set_weights(self.pre_finetune_model.get_weights())
        journal.stages.append({"stage": "finetune", "rows": n, "validation_before": before,
                               "validation_after": after, "kept": kept, **stage})

    def fitted(self, est) -> None:
        """Set the estimator's fitted attributes from the run."""
        journal = self.journal
        est.model_ = est.estimator_ = self.model
        est.pre_finetune_model_ = self.pre_finetune_model
        est.network_ = self.network
        est._set_data_shape(self.X.shape[1:], self.classes)
        est.transduction_ = labels_of(journal.transduction, self.classes)
        est.labeled_iter_ = journal.labeled_iter
        est.n_iter_ = journal.n_iter
        est.termination_condition_ = journal.termination
        est.rounds_ = journal.rounds
        est.stages_ = journal.stages
        est.epochs_run_ = int(sum(s["epochs"] for s in journal.stages))
        est.n_train_labeled_ = len(self.train_rows)
        est.n_validation_ = len(self.y_val)
        est.plan_ = self.journal.plan

    # -- helpers ------------------------------------------------------------------------------

    def _labeled_weight(self) -> np.ndarray | None:
        """The training rows' sample weights; None where `fit` was given none."""
        return None if self.weight is None else self.weight[self.train_rows]

    def _calibration(self, proba: np.ndarray) -> dict:
        """The pool's probabilities under a temperature fitted on the validation rows, with
        the temperature and the validation ECE before and after."""
        from fewlabels.calibration import apply_temperature, temperature_record

        record = temperature_record(self._proba(self.x_val), self.y_val)
        if "skipped" in record and self.sel.calibrate:  # asked for, not merely on by default
            warnings.warn(f"calibrate=True: {record['skipped']}.", FewLabelsWarning,
                          stacklevel=5)
        return {"proba": apply_temperature(proba, record["temperature"]), **record}

    def _validation_scores(self) -> dict:
        return _scores(self._proba(self.x_val), self.y_val)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        """The current model's class probabilities for `x`."""
        from fewlabels import training

        return training.predict_proba(self.model, x)

    def _run_stage(self, name: str, x, targets_, **kwargs) -> dict:
        """One training stage; for a transfer model, phase 1 (frozen) then phase 2.

        Phase 2 unfreezes the backbone's top `unfreeze` layers (BatchNormalization stays
        frozen and in inference mode) and trains again at `unfreeze_learning_rate`, with the
        same early stopping on validation. A model already unfrozen (a later stage on the
        same model) trains at the phase-2 rate. A run resumed in phase 2 skips phase 1 (its
        record is in the checkpoint).
        """
        from fewlabels import training
        from fewlabels.models.transfer import unfreeze_top

        journal = self.journal
        journal.stage, journal.phase = name, 0
        args = {**self.stage_args, **kwargs}
        if self.network != "transfer" or self._unfreeze == 0 or not pretrained(self.net.weights):
            return training.train_stage(self.model, x, targets_, **args)
        slow = self.net.unfreeze_learning_rate or args["learning_rate"] / 10
        if journal.unfrozen and journal.phase_record is None:
            return training.train_stage(self.model, x, targets_,
                                        **{**args, "learning_rate": slow})
        if journal.phase_record is None:  # (else: resumed in phase 2, already unfrozen)
            frozen = training.train_stage(self.model, x, targets_, **args)
            journal.phase_record = {**frozen,
                                    "unfrozen_layers": unfreeze_top(self.model, self._unfreeze)}
        frozen = dict(journal.phase_record)
        unfrozen_layers = frozen.pop("unfrozen_layers")
        journal.phase, journal.unfrozen = 1, True
        tuned = training.train_stage(self.model, x, targets_,
                                     **{**args, "learning_rate": slow, "min_steps": 0})
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

    def _round_record(self, r: int, rows: np.ndarray, proba: np.ndarray) -> dict:
        classes, prior, journal = self.classes, self.prior, self.journal
        pred = proba.argmax(axis=1)
        counts = np.bincount(pred, minlength=len(classes))
        record: dict[str, Any] = {
            "round": r,
            "accepted": len(rows),
            "accepted_per_class": {str(c): int(n) for c, n in zip(classes, counts, strict=True)},
            "mean_confidence": round(float(proba.max(axis=1).mean()), 6),
            "pseudo_labeled_total": int(np.sum(journal.labeled_iter > 0)),
        }
        share = counts / counts.sum()
        over = [c for c in dominant_classes(share, prior) if counts[c] >= 10]
        if over:
            advice = ("a higher threshold or more labels of the classes it neglects"
                      if self.sel.class_balance else "class_balance=True or a higher threshold")
            warnings.warn(
                f"round {r}: pseudo-labels collapse onto class {classes[over[0]]!r} "
                f"({share[over[0]]:.0%} of this round's; its labeled share is "
                f"{prior[over[0]]:.0%}). Consider {advice}.", FewLabelsWarning, stacklevel=4)
        if self.y_hidden is not None:
            record.update(self._pseudo_label_accuracy(rows, pred))
        return record

    def _pseudo_label_accuracy(self, rows: np.ndarray, pred: np.ndarray) -> dict:
        """This round's and all rounds' pseudo-label accuracy, against the hidden labels."""
        journal, hidden = self.journal, self.y_hidden
        truth = hidden[rows]
        known = truth >= 0
        all_rows = np.flatnonzero((journal.labeled_iter > 0) & (hidden >= 0))
        return {
            "pseudo_label_accuracy": (round(float(np.mean(pred[known] == truth[known])), 6)
                                      if known.any() else None),
            "pseudo_label_accuracy_total": (
                round(float(np.mean(journal.transduction[all_rows] == hidden[all_rows])), 6)
                if len(all_rows) else None),
        }

    @property
    def _unfreeze(self) -> int:
        """The backbone layers phase 2 unfreezes: `unfreeze`, 20 when it is unset."""
        return DEFAULT_UNFREEZE if self.net.unfreeze is None else self.net.unfreeze

    @property
    def _unit(self) -> str:
        return "rows" if self.X.ndim == 2 else "images"

    def _say(self, message: str) -> None:
        if self.est.verbose:
            print(message, flush=True)


def _scores(proba: np.ndarray, y: np.ndarray) -> dict:
    """Validation loss and accuracy (None when there are no validation rows)."""
    if len(y) == 0:
        return {"loss": None, "accuracy": None}
    p = np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0)
    return {
        "loss": round(float(-np.mean(np.log(p))), 6),
        "accuracy": round(float(np.mean(proba.argmax(axis=1) == y)), 6),
    }


class Journal(StageJournal):
    """What a self-training run has done so far, beyond the network: checkpointed with it.

    `stage` is the stage in progress (`initial`, `round_<r>`, `finetune`) and `phase` its
    transfer phase; `steps_done` the optimizer steps of the finished stages (checkpoints are
    numbered across stages). The rest is the fit's own state: the pseudo-labels
    (`transduction`, `labeled_iter`, `pseudo_targets`), the records of finished stages and
    rounds, the current round's record, and for fine-tuning the weights before it.
    """

    def __init__(self, n: int, n_classes: int, y: np.ndarray) -> None:
        super().__init__("initial")
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
        self.plan: dict | None = None

    def stage_number(self, rounds: int) -> int:
        """0 for `initial`, r for `round_<r>`, `rounds + 1` for `finetune`."""
        if self.stage == "initial":
            return 0
        if self.stage == "finetune":
            return rounds + 1
        return int(self.stage.split("_")[1])

    def get_state(self) -> dict:
        keys = ("stage", "phase", "steps_done", "stages", "rounds", "record", "n_iter",
                "termination", "phase_record", "unfrozen", "before", "plan")
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
