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

from fewlabels.errors import InputError, not_fitted
from fewlabels.estimators.composition import Composed
from fewlabels.estimators.labels import plain
from fewlabels.estimators.specs import changed_repr
from fewlabels.files import inside, read_json, write_json
from fewlabels.validation import check_features, onehot_to_indices

MODEL_FILE = "model.keras"
CLASSES_FILE = "classes.json"
CONFIG_FILE = "config.json"


class Estimator(Composed):
    """Base class: scikit-learn's estimator protocol and the fitted model's common methods.

    It follows `sklearn.base.BaseEstimator` and `ClassifierMixin` (`get_params(deep)`,
    `set_params`, `clone`, `__sklearn_tags__`, `score`, `classes_`, `n_features_in_`)
    without importing scikit-learn, so that `import fewlabels` stays fast: `Pipeline`,
    `GridSearchCV` and `cross_val_score` take it as they take any classifier.

    Settings that several estimators share come as specs (`Composed`,
    `fewlabels.estimators.specs`).
    """

    _parameter_constraints: ClassVar[dict] = {}

    # -- parameters -------------------------------------------------------------------------

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The constructor's parameters, sorted (as scikit-learn's `BaseEstimator`)."""
        import inspect

        signature = inspect.signature(cls.__init__)
        return sorted(p for p in signature.parameters if p != "self"
                      and signature.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as given (scikit-learn's protocol).

        Args:
            deep: also return the parameters of parameters that are estimators, as
                `name__param`.

        Returns:
            `{name: value}`.
        """
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update({f"{name}__{k}": v for k, v in value.get_params().items()})
            out[name] = value
        return out

    @classmethod
    def like(cls, other: Estimator, **overrides: Any) -> Estimator:
        """A new, unfitted `cls` with every parameter of `other` that `cls` takes, then
        `overrides`: how a recipe builds its stages, a budget its timing probe, and a run
        its supervised baseline.

        Args:
            other: the estimator whose parameters are copied (left unchanged).
            **overrides: parameters set after the copy, by name or by a spec setting's flat
                name (`steps=100` changes the copied `budget`'s steps).

        Returns:
            The new estimator, unfitted.

        Example:
        ```python
        baseline = ConsistencyTraining.like(recipe, method="supervised",
                                            algorithm_params=None)
        ```
        """
        own = cls._get_param_names()
        shared = {k: v for k, v in other.get_params(deep=False).items() if k in own}
        return cls(**{**shared, **cls._nest(overrides, current=shared)})

    def params_json(self) -> dict[str, Any]:
        """The constructor parameters as JSON-friendly values: each spec with every setting
        it resolves to (a dict), tuples as lists, a user's own network (a `keras.Model` or a
        function) as its name, `"custom:<name>"`, and a scikit-learn `estimator` as its repr
        (left out when None: not a command-line option)."""
        out = {}
        for k, v in self.get_params(deep=False).items():
            if k in self._specs:  # resolved: the run records every setting it used
                spec = self._spec(k)
                v = v if spec is None else spec.to_json()
            elif isinstance(v, tuple):
                v = list(v)
            elif k == "model" and not isinstance(v, str):
                v = f"custom:{getattr(v, 'name', None) or getattr(v, '__name__', type(v).__name__)}"
            elif k == "estimator":  # Python only: a scikit-learn learner, never saved
                if v is None:
                    continue
                v = repr(v)
            out[k] = v
        return out

    def set_params(self, **params: Any) -> Estimator:
        """Set constructor parameters by name (`name__param` for a nested estimator's).

        Returns:
            `self`. An unknown name is an `InputError` listing the known ones.
        """
        valid = self._get_param_names()
        fields = self.flat_names()
        flat = [k for k in params if k in fields and fields[k][0] != k]
        if flat:  # an earlier release's name: `set_params(threshold=0.8)`
            import warnings

            new = ", ".join(f"{fields[k][0]}__{fields[k][1]}=..." for k in flat)
            warnings.warn(f"set_params({', '.join(k + '=...' for k in flat)}) is now "
                          f"set_params({new}); the flat form will be removed in a future "
                          "release.", FutureWarning, stacklevel=2)
            params = self._nest(params, current=self.get_params(deep=False))
        nested: dict[str, dict] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise InputError(f"unknown parameter {name!r}; known: {valid}.")
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            if name in self._specs and not hasattr(getattr(self, name), "set_params"):
                # None or a bare value: the spec it stands for takes the settings
                setattr(self, name, type(self._specs[name]).of(getattr(self, name), name))
            getattr(self, name).set_params(**sub_params)
        return self

    def __sklearn_tags__(self):
        """scikit-learn's tags: a classifier that takes 2-D numeric arrays, and learns from
        unlabeled rows (-1) as scikit-learn's semi-supervised estimators do."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(), input_tags=InputTags(two_d_array=True),
                    transformer_tags=None, regressor_tags=None)

    def __repr__(self) -> str:
        return changed_repr(self)

    # -- prediction and evaluation ----------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise not_fitted(
                f"This {type(self).__name__} instance is not fitted yet; call fit() or load()."
            )

    def _check_input(self, X) -> np.ndarray:
        images = len(self.input_shape_) == 3
        return check_features(X, n_features=None if images else self.input_shape_[0],
                              images=images, input_shape=self.input_shape_ if images else None,
                              estimator=type(self).__name__)

    def predict_proba(self, X, *, tta: bool = False) -> np.ndarray:
        """Class probabilities, `(n_samples, n_classes)`, columns in `classes_` order.

        Args:
            X: features or images.
            tta: test-time augmentation (images): average each image's probabilities with
                its mirror image's. Refused for a model trained without horizontal flips
                (`augment_params={"horizontal_flip": False}`: digits, text).
        """
        self._check_fitted()
        return self._proba_of(self.model_, self._check_input(X), tta)

    def features(self, X) -> np.ndarray:
        """The model's features of `X`: what its output layer (`probabilities`) reads, the
        space `fewlabels suggest` measures diversity in.

        A model without such a layer of its own (the table ensemble) gives its network
        member's features, or, without a network, the rows themselves.

        Args:
            X: features or images.

        Returns:
            `(n_samples, n_features)` float64.
        """
        from fewlabels.training.stage import batched_outputs

        self._check_fitted()
        X = self._check_input(X)
        trunk = _feature_model(self.model_)
        if trunk is None:
            return X.reshape(len(X), -1).astype(np.float64)
        out = batched_outputs(trunk, X if len(X) else np.zeros((1, *X.shape[1:]), X.dtype))
        return out.reshape(len(out), -1)[:len(X)].astype(np.float64)

    def has_logits(self) -> bool:
        """Whether the model ends with one softmax `Dense` layer, whose inputs `logits`
        gives (every network; not the table ensemble, which averages its members)."""
        self._check_fitted()
        return _output_dense(self.model_) is not None

    def logits(self, X) -> np.ndarray:
        """The network's logits of `X`: what its softmax output layer turns into
        `predict_proba` (`softmax(logits(X)) == predict_proba(X)`), for the energy score
        (`fewlabels.novelty.energy_scores`).

        Args:
            X: features or images.

        Returns:
            `(n_samples, n_classes)` float64, columns in `classes_` order.

        Example:
        ```python
        from fewlabels.novelty import energy_scores

        scores = energy_scores(model.logits(x_pool))  # low: looks foreign
        ```
        """
        self._check_fitted()
        head = _output_dense(self.model_)
        if head is None:
            raise InputError(f"this {type(self).__name__}'s model does not end with one "
                             "softmax Dense layer (the table ensemble averages its "
                             "members' probabilities), so it has no logits; "
                             "predict_proba gives its probabilities.")
        from keras import ops

        kernel = ops.convert_to_numpy(head.kernel).astype(np.float64)
        bias = ops.convert_to_numpy(head.bias).astype(np.float64)
        return self.features(X) @ kernel + bias

    def _proba_of(self, model, X: np.ndarray, tta: bool = False) -> np.ndarray:
        """`model`'s class probabilities for checked rows `X` (the model a stage names),
        with test-time augmentation when `tta`."""
        from fewlabels.training.labelling import predict_views

        if tta:
            self._check_tta(X)
        return predict_views(model, X, flip=tta)

    def _check_tta(self, X: np.ndarray) -> None:
        """Test-time augmentation mirrors images: refused for rows, and for a model trained
        without mirrored images."""
        if X.ndim != 4:
            raise InputError("tta (test-time augmentation) mirrors images; this model takes "
                             "feature rows.")
        if not self._augmentation().get("horizontal_flip", True):
            raise InputError("tta mirrors images, but this model was trained with "
                             "horizontal_flip off (digits, text): a mirror image is not its "
                             "data.")

    def _augmentation(self) -> dict:
        """The image policies' options the model was trained with (`augment_params`)."""
        return getattr(self, "augment_params", None) or {}

    def predict_log_proba(self, X, *, tta: bool = False) -> np.ndarray:
        """The logarithm of `predict_proba` (-inf where a probability is 0).

        Args:
            X: features or images.
            tta: test-time augmentation (see `predict_proba`).

        Returns:
            `(n_samples, n_classes)` log-probabilities, columns in `classes_` order.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X, tta=tta))

    def training_views(self, X: np.ndarray) -> list[tuple[str, object]]:
        """The augmentations training applies to images like `X`, as `(name, Keras layer)`
        pairs (none for rows or without augmentation); the report pictures them."""
        return []

    def predict(self, X, *, tta: bool = False) -> np.ndarray:
        """Predicted classes: values of `classes_` (scikit-learn's convention).

        Args:
            X: features or images.
            tta: test-time augmentation (see `predict_proba`).

        Returns:
            An array of class labels, one per row of `X`.
        """
        proba = self.predict_proba(X, tta=tta)
        return np.asarray(self.classes_)[proba.argmax(axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy of `predict(X)` against the labels `y` (as `ClassifierMixin`).

        Args:
            X: features or images.
            y: true class labels (values of `classes_`).
            sample_weight: optional weights of the rows.

        Returns:
            The (weighted) share of rows predicted right.
        """
        right = self.predict(X) == np.asarray(y)
        return float(np.average(right, weights=sample_weight))

    def evaluate(self, X, y, *, stage: str = "final", tta: bool = False) -> dict:
        """Loss, accuracy, macro-F1, per-class precision/recall and the confusion matrix.

        Args:
            X: features.
            y: true class indices into `classes_` (all labeled), or one-hot rows.
            stage: `"final"`; `SelfTraining` also has `"before_finetune"`, the model as it
                was before fine-tuning (after a `fit` in which fine-tuning ran).
            tta: test-time augmentation (see `predict_proba`).

        Returns:
            A metrics dict (see `fewlabels.metrics.classification_metrics`).
        """
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
        return classification_metrics(y, self._proba_of(model, X, tta), self.classes_)

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
        write_json(inside(directory, CLASSES_FILE), plain(self.classes_))
        write_json(inside(directory, CONFIG_FILE), {
            "fewlabels_version": __version__,
            "estimator": type(self).__name__,
            "params": self.params_json(),
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
            isinstance(c, int | float | str) and not isinstance(c, bool) for c in classes
        ):
            raise InputError(f"{directory / CLASSES_FILE}: must be a JSON list of classes.")
        twice = sorted({str(c) for c in classes if [str(d) for d in classes].count(str(c)) > 1})
        if twice:
            raise InputError(f"{directory / CLASSES_FILE}: lists {twice} more than once; each "
                             "class is named once (predictions are written by name).")
        if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
            raise InputError(f"{directory / CONFIG_FILE}: has no 'params' object.")
        estimator = cls.from_params_json(config["params"])
        model = training.load_model(directory / MODEL_FILE, trust=trust_model)
        _check_model_shape(model, directory / MODEL_FILE)
        n_out = model.output_shape[-1]
        if n_out != len(classes):
            raise InputError(
                f"{directory}: the model has {n_out} outputs but classes.json lists "
                f"{len(classes)} classes."
            )
        estimator.model_ = model
        estimator._set_data_shape(model.input_shape[1:], classes)
        estimator._after_load()
        return estimator

    def _after_load(self) -> None:
        """Set what a loaded estimator needs beyond the model (subclasses)."""

    # -- the methods it serves (`fit --method`, `make_estimator`) --------------------------

    @classmethod
    def method_names(cls) -> list[str]:
        """The `--method` names this class trains (`fewlabels.estimators.ESTIMATORS`
        registers the class; `fewlabels.methods()` lists every class's names)."""
        return [cls.report_name] if cls.report_name else []

    streams_unlabeled: ClassVar[bool] = False
    """Whether `fit` takes `unlabeled_files`: unlabeled images read from disk per batch."""
    summaries: ClassVar[dict[str, str]] = {}
    """One line per method of `method_names()`, for `fewlabels methods`."""

    @classmethod
    def describe(cls, method: str) -> list[str]:
        """What `fewlabels methods` prints about `method`: a line, then any details."""
        return [cls.summaries.get(method, "")]

    @classmethod
    def for_method(cls, method: str, **params: Any) -> Estimator:
        """An unfitted estimator for one of `method_names()`, from flat options (the
        command line's, a `config.json`'s): each class maps them to its parameters, and an
        unknown one is named.

        Args:
            method: one of `method_names()`.
            **params: options, by parameter name.

        Returns:
            The estimator, its parameters not yet validated.
        """
        return cls().set_params(**cls._nest(params))

    @classmethod
    def option_classes(cls) -> list[type[Estimator]]:
        """The classes whose constructor parameters are this one's `fit` options (a
        recipe's own, then its components')."""
        return [cls]

    @classmethod
    def options_of(cls, params: dict) -> dict:
        """The flat options (as `for_method` takes them) that a `config.json`'s `params`
        record: `fit --config` re-runs a run from them. A spec recorded as a dict gives
        its settings by their flat names (a run of an earlier release recorded them flat)."""
        out = {}
        fields = {target: flat for flat, target in cls.flat_names().items()}
        for name, value in params.items():
            if name in cls._specs and isinstance(value, dict):
                out.update({fields[(name, k)]: v for k, v in value.items()
                            if (name, k) in fields})
            else:
                out[name] = value
        return out

    @classmethod
    def from_params_json(cls, params: dict) -> Estimator:
        """The unfitted estimator that `params_json()` recorded (`load` builds it), from
        this release's nested specs or an earlier one's flat names."""
        known = {*cls._get_param_names(), *cls.flat_names()}
        return cls(**cls._nest({k: v for k, v in params.items() if k in known}))

    def split_seed(self) -> int:
        """The seed a run draws its test split and kept labels with (the estimator's)."""
        return getattr(self, "seed", 0)

    def set_verbose(self, verbose: int) -> None:
        """Set how much the fit prints (a run sets the command line's `--verbose`)."""
        self.set_params(verbose=verbose)

    # -- what a run reports (the workflow asks; each estimator answers for itself) ---------

    report_name: ClassVar[str] = ""
    """The method's name in tables and `config.json` (`method_name` may refine it)."""

    def method_name(self) -> str:
        """The method's name in the run's tables and `config.json`."""
        return self.report_name or type(self).__name__

    def supervised_baseline(self) -> Estimator | None:
        """The supervised-only estimator with the same model and budget (unfitted), for
        the run's comparison; None when the estimator has none."""
        return None

    def budget_words(self) -> str:
        """The training budget, in words (printed before the fit)."""
        return ""

    def result_stages(self) -> list[tuple[str, str]]:
        """`(row name, evaluate stage)` for each model of the fit the run scores."""
        return [(self.method_name(), "final")]

    def run_summary(self) -> dict:
        """Labeled and pseudo-labeled examples, epochs and training time of the fit."""
        return {"labeled": getattr(self, "n_train_labeled_", None)}

    def history_record(self) -> dict:
        """What the run's `history.json` keeps of the fit."""
        return {"estimator": type(self).__name__}

    def _set_data_shape(self, sample_shape, classes) -> None:
        """The fitted attributes that describe the data: `classes_` (a NumPy array, as
        scikit-learn's), `input_shape_`, and `n_features_in_` for feature rows."""
        self.classes_ = np.asarray(classes)
        self.input_shape_ = tuple(int(d) for d in sample_shape)
        if len(self.input_shape_) == 1:
            self.n_features_in_ = self.input_shape_[0]


class if_learner_has:  # noqa: N801 - a decorator, named as scikit-learn's `available_if`
    """A method that exists only where the learner has a method of its name, as
    scikit-learn's `available_if`: the fitted `estimator_` once fitted, else `estimator`.

    `hasattr(model, name)` is then False for a learner without it, and calling it raises
    scikit-learn's `AttributeError`, caused by the learner's own.
    """

    def __init__(self, method) -> None:
        self.method = method
        self.__doc__ = method.__doc__

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        learner = obj.estimator_ if hasattr(obj, "estimator_") else obj.estimator
        try:
            getattr(learner, self.name)
        except AttributeError as err:
            raise AttributeError(f"This {type(obj).__name__!r} has no attribute "
                                 f"{self.name!r}") from err
        return self.method.__get__(obj, owner)


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


def _output_dense(model):
    """`model`'s output layer when it is one softmax `Dense` layer named `probabilities`
    (every fewlabels network), else None."""
    import keras

    try:
        head = model.get_layer("probabilities")
    except ValueError:
        return None
    if not isinstance(head, keras.layers.Dense) or not head.use_bias \
            or head.activation is not keras.activations.softmax \
            or model.outputs[0] is not head.output:
        return None
    return head


def _feature_model(model):
    """A model from `model`'s input to what its `probabilities` Dense layer reads (looked for
    in `model`, then in the models it holds), or None."""
    import keras

    for candidate in [model, *(layer for layer in model.layers
                                if isinstance(layer, keras.Model))]:
        try:
            head = candidate.get_layer("probabilities")
        except ValueError:
            continue
        if isinstance(head, keras.layers.Dense):  # (the ensemble's is an average of members)
            return keras.Model(candidate.input, head.input)
    return None
