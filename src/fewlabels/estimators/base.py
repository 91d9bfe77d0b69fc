"""What every fewlabels estimator shares: parameters, prediction, evaluation, persistence.

`SelfTraining` and `ConsistencyTraining` subclass `Estimator`. A fitted estimator has
`model_` (a Keras model from inputs to class probabilities), `classes_` and `input_shape_`.
A run directory holds `model.keras` (loaded with Keras `safe_mode=True`), `classes.json` and
`config.json` (whose `estimator` key says which class wrote it; `load_estimator` reads it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from fewlabels.errors import InputError, NotFittedError
from fewlabels.files import inside, read_json, write_json
from fewlabels.validation import check_features, onehot_to_indices

MODEL_FILE = "model.keras"
CLASSES_FILE = "classes.json"
CONFIG_FILE = "config.json"


class Estimator:
    """Base class: scikit-learn-style parameters and the fitted model's common methods."""

    _parameter_constraints: ClassVar[dict] = {}

    # -- parameters -------------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as JSON-friendly values."""
        out = {name: getattr(self, name) for name in self._parameter_constraints}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def set_params(self, **params: Any) -> Estimator:
        """Set constructor parameters by name; unknown names are an error."""
        for name, value in params.items():
            if name not in self._parameter_constraints:
                raise InputError(
                    f"unknown parameter {name!r}; known: {sorted(self._parameter_constraints)}."
                )
            setattr(self, name, value)
        return self

    # -- prediction and evaluation ----------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit() or load()."
            )

    def _check_input(self, X) -> np.ndarray:
        images = len(self.input_shape_) == 3
        return check_features(X, n_features=None if images else self.input_shape_[0],
                              images=images, input_shape=self.input_shape_ if images else None)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, `(n_samples, n_classes)`, columns in `classes_` order."""
        from fewlabels import training

        self._check_fitted()
        X = self._check_input(X)
        return training.predict_proba(self.model_, X)

    def predict(self, X) -> np.ndarray:
        """Predicted class indices into `classes_`."""
        return self.predict_proba(X).argmax(axis=1)

    def evaluate(self, X, y, *, stage: str = "final") -> dict:
        """Loss, accuracy, macro-F1, per-class precision/recall and the confusion matrix.

        Args:
            X: features.
            y: true class indices into `classes_` (all labeled), or one-hot rows.
            stage: `"final"`; `SelfTraining` also has `"before_finetune"`, the model as it
                was before fine-tuning (after a `fit` in which fine-tuning ran).

        Returns:
            A metrics dict (see `fewlabels.metrics.classification_metrics`).
        """
        from fewlabels import training
        from fewlabels.metrics import classification_metrics

        self._check_fitted()
        model = self._model_for(stage)
        X = self._check_input(X)
        y = np.asarray(y)
        y = onehot_to_indices(y) if y.ndim == 2 else y.astype(np.int64)
        if len(y) != len(X):
            raise InputError(f"X has {len(X)} rows but y has {len(y)} labels.")
        if np.any((y < 0) | (y >= len(self.classes_))):
            raise InputError("evaluate needs every row labeled with a known class index.")
        return classification_metrics(y, training.predict_proba(model, X), self.classes_)

    def _model_for(self, stage: str):
        """The model `evaluate` scores for `stage` (subclasses add stages)."""
        if stage != "final":
            raise InputError(f"stage must be 'final'; got {stage!r}.")
        return self.model_

    # -- persistence ------------------------------------------------------------------------

    def save(self, directory: str | Path, *, extra_config: dict | None = None) -> None:
        """Save the model (`model.keras`), class list and parameters into `directory`.

        Args:
            directory: created if missing.
            extra_config: more keys for `config.json` (the CLI records the run's options).
        """
        from fewlabels import __version__, training

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        training.save_model(self.model_, inside(directory, MODEL_FILE))
        write_json(inside(directory, CLASSES_FILE), self.classes_)
        write_json(inside(directory, CONFIG_FILE), {
            "fewlabels_version": __version__,
            "estimator": type(self).__name__,
            "params": self.get_params(),
            "input_shape": list(self.input_shape_),
            **(extra_config or {}),
        })

    @classmethod
    def load(cls, directory: str | Path, *, trust_model: bool = False) -> Estimator:
        """Load a model saved by `save`, inspected first, then with Keras `safe_mode=True`.

        Args:
            directory: the folder `save` wrote.
            trust_model: skip the inspection and safe mode, for a file you trust (a
                Lambda layer, a custom function). See `fewlabels.model_files`.

        Returns:
            A fitted estimator that predicts as the saved one did.
        """
        from fewlabels import training

        directory = Path(directory)
        if not directory.is_dir():
            raise InputError(f"{directory}: no such run directory.")
        config = read_json(directory / CONFIG_FILE)
        classes = read_json(directory / CLASSES_FILE)
        if not isinstance(classes, list) or not all(
            isinstance(c, int | str) and not isinstance(c, bool) for c in classes
        ):
            raise InputError(f"{directory / CLASSES_FILE}: must be a JSON list of classes.")
        if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
            raise InputError(f"{directory / CONFIG_FILE}: has no 'params' object.")
        known = {k: v for k, v in config["params"].items() if k in cls._parameter_constraints}
        estimator = cls(**known)
        model = training.load_model(directory / MODEL_FILE, trust=trust_model)
        _check_model_shape(model, directory / MODEL_FILE)
        n_out = model.output_shape[-1]
        if n_out != len(classes):
            raise InputError(
                f"{directory}: the model has {n_out} outputs but classes.json lists "
                f"{len(classes)} classes."
            )
        estimator.model_ = model
        estimator.classes_ = classes
        estimator.input_shape_ = tuple(int(d) for d in model.input_shape[1:])
        if len(estimator.input_shape_) == 1:
            estimator.n_features_in_ = estimator.input_shape_[0]
        estimator._after_load()
        return estimator

    def _after_load(self) -> None:
        """Set what a loaded estimator needs beyond the model (subclasses)."""


def _check_model_shape(model, path: Path) -> None:
    """Refuse a model fewlabels cannot predict with: several inputs or outputs, or an input
    whose size is not fixed."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InputError(f"{path}: the model has {len(model.inputs)} inputs and "
                         f"{len(model.outputs)} outputs; fewlabels needs one of each.")
    shape = tuple(model.input_shape[1:])
    if not shape or any(d is None for d in shape):
        raise InputError(f"{path}: the model's input shape {shape} is not fixed; fewlabels "
                         "needs every input dimension known (rows of n features, or images "
                         "of one size).")
