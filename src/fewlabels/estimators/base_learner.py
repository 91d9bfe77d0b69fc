"""Self-training around any scikit-learn classifier: `SelfTraining(estimator=SVC(...))`.

The run is self-training's own (`SelfTrainingRun`): the rounds, the selection (threshold or
top-k per class, class balance by the labeled prior), calibration by temperature, the
records (accepted per class, mean confidence, pseudo-label accuracy where hidden labels are
known, ECE before and after) and the fitted state. Only the learner changes:

- each stage fits a fresh clone of the estimator (scikit-learn's `clone`) on the labeled and
  pseudo-labeled rows, with hard labels, and `pseudo_weight` as `sample_weight` when it is
  not 1;
- there is nothing to fine-tune: the last round's model is the result;
- the labeled rows all train, unless `calibrate=True`, which holds out
  `validation_fraction` of them to fit the temperature on (or given `validation_data`).

Such a fit cannot be saved, checkpointed or exported: fewlabels writes only Keras models,
which load without running code, and a pickled estimator runs code when it is loaded. Keep
it in memory, or fit it again.
"""

from __future__ import annotations

import inspect
import time

import numpy as np

from fewlabels.errors import InputError, MissingMethodError
from fewlabels.estimators.self_training_run import SelfTrainingRun

NETWORK = "estimator"
"""The `network_` of a `SelfTraining` fitted around a scikit-learn estimator."""


def check_classifier(name: str, value) -> None:
    """None, or a classifier with `fit` and `predict_proba` (scikit-learn's protocol)."""
    if value is None:
        return
    if isinstance(value, type):
        raise InputError(f"{name} must be a classifier instance, such as {value.__name__}(); "
                         f"got the class {value.__name__}.")
    missing = [m for m in ("fit", "get_params") if not callable(getattr(value, m, None))]
    if missing:
        raise InputError(f"{name} must be a scikit-learn classifier with fit, predict_proba "
                         f"and get_params; {value!r} has no {', '.join(missing)}.")
    if not hasattr(value, "predict_proba"):  # scikit-learn's error, an AttributeError
        raise MissingMethodError(
            f"{name}: {type(value).__name__!r} object has no attribute 'predict_proba'; "
            "self-training reads its probabilities (SVC needs probability=True).")


def classifier_proba(model, X: np.ndarray, n_classes: int) -> np.ndarray:
    """A fitted classifier's probabilities with a column for each of `n_classes` classes
    (0 for a class its training rows did not have)."""
    out = np.zeros((X.shape[0], n_classes))
    if X.shape[0]:
        out[:, np.asarray(model.classes_).astype(int)] = model.predict_proba(X)
    return out


class BaseLearnerRun(SelfTrainingRun):
    """`SelfTrainingRun` with a scikit-learn classifier as the learner."""

    for_learner = True

    def __init__(self, estimator, X, y, classes, *, validation_data, y_hidden, checkpoint,
                 sample_weight=None) -> None:
        est = estimator
        if checkpoint is not None:
            raise InputError(
                "SelfTraining(estimator=...) cannot be checkpointed or saved: fewlabels writes "
                "only Keras models, which load without running code (a pickled scikit-learn "
                "estimator runs code when loaded). Use it from Python, or use a Keras model.")
        selection = est._spec("selection")
        if est._spec("budget").seconds is not None:
            raise InputError("budget sizes a network's training passes; a scikit-learn "
                             "estimator is fitted once per stage: leave budget unset.")
        if selection.soft_labels:
            raise InputError("soft_labels=True needs a network; a scikit-learn estimator "
                             "trains on hard labels.")
        weighted = "sample_weight" in inspect.signature(est.estimator.fit).parameters
        for asked, what in ((selection.pseudo_weight != 1.0,
                             f"pseudo_weight={selection.pseudo_weight}"),
                            (sample_weight is not None, "fit(..., sample_weight=...)")):
            if asked and not weighted:
                raise InputError(f"{what} needs an estimator whose fit takes sample_weight; "
                                 f"{type(est.estimator).__name__}'s does not.")
        super().__init__(estimator, X, y, classes, validation_data=validation_data,
                         y_hidden=y_hidden, checkpoint=None,
                         sample_weight=sample_weight)

    def _split_validation(self, validation_data, images: bool) -> None:
        if validation_data is not None or self.sel.calibrate:
            super()._split_validation(validation_data, images)
            return
        self.train_rows = np.flatnonzero(self.y >= 0)
        self.x_val, self.y_val = self.X[:0], self.y[:0]

    def _new_model(self, stage: int):
        from sklearn.base import clone

        return clone(self.est.estimator)

    def _run_stage(self, name: str, x, targets_, sample_weight=None, **_) -> dict:
        self.journal.stage = name
        start = time.perf_counter()
        weights = {} if sample_weight is None or np.all(sample_weight == 1.0) else \
            {"sample_weight": sample_weight}
        self.model.fit(x, targets_.argmax(axis=1), **weights)
        return {"epochs": 0, "best_epoch": 0, "wall_s": round(time.perf_counter() - start, 3),
                "history": {}}

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return classifier_proba(self.model, x, len(self.classes))

    def finetune(self) -> None:
        """Nothing to fine-tune: each stage fits the estimator afresh."""
