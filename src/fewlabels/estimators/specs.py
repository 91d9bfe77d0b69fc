"""The settings the estimators share, as objects built once and passed whole.

An estimator takes a handful of its own parameters plus these, as scikit-learn composes a
`Pipeline` of estimators: `Network` (`model=`), `Views` (`views=`), `Optimizer`
(`optimizer=`), `Budget` (`budget=`), `WeightAverage` (`average=`), self-training's
`Stopping`, `Selection` and `FineTune`, and the table ensemble's `Graph` (`graph=`). Each
has scikit-learn's parameter protocol (`get_params`, `set_params`, `clone`, `GridSearchCV`
over `model__dropout`), validates at the door with the owner's name (`model.dropout must be
...`), and reads back from the JSON a run directory records.

A bare value is the spec of that name, as Keras takes `optimizer="adam"`: `model="cnn"` is
`Network("cnn")`, `optimizer="adam"` is `Optimizer("adam")`. None is the estimator's default.

Example:
```python
from fewlabels import Budget, ConsistencyTraining, Network

model = ConsistencyTraining(method="fixmatch", model=Network("cnn", cnn_widths=(16, 32, 64)),
                           budget=Budget(seconds=600))
model.set_params(model__dropout=0.2)
```
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

from fewlabels import params as p
from fewlabels.errors import InputError
from fewlabels.models.chooser import check_model_param
from fewlabels.views import TABULAR_VIEWS
from fewlabels.views.augment import POLICIES


class Spec:
    """Base class: a group of settings with scikit-learn's parameter protocol."""

    _parameter_constraints: ClassVar[dict] = {}
    shorthand: ClassVar[str] = ""
    """The setting a bare value names (`Network("cnn")`; `model="cnn"` in an estimator)."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings, as given (scikit-learn's protocol; `deep` changes nothing)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Spec:
        """Set settings by name; an unknown name is an `InputError` listing the known ones.

        Returns:
            `self`.
        """
        known = self._get_param_names()
        for name, value in params.items():
            if name not in known:
                raise InputError(f"{type(self).__name__} has no setting {name!r}; known: "
                                 f"{known}.")
            setattr(self, name, value)
        return self

    def replace(self, **changes: Any) -> Spec:
        """A copy with `changes` (the original is left as it is)."""
        return type(self)(**{**self.get_params(), **changes})

    def check(self, owner: str) -> None:
        """Validate every setting; a bad one is named as `owner.setting` (the shorthand as
        `owner`: `model must be one of ...`)."""
        for name, check in self._parameter_constraints.items():
            check(owner if name == self.shorthand else f"{owner}.{name}", getattr(self, name))

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON values (tuples become lists; a Python network its name)."""
        out = {}
        for name, value in self.get_params().items():
            if isinstance(value, tuple):
                value = list(value)
            elif not isinstance(value, str | int | float | bool | list | dict | type(None)):
                value = f"custom:{getattr(value, 'name', None) or type(value).__name__}"
            out[name] = value
        return out

    @classmethod
    def of(cls, value: Any, owner: str = "") -> Spec | None:
        """The spec `value` stands for: itself, a dict of its settings (from JSON), a bare
        value of `shorthand`, or None for the default one."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(cls._get_param_names()))
            if unknown:
                raise InputError(f"{owner or cls.__name__}: {cls.__name__} has no setting "
                                 f"{unknown[0]!r}; known: {cls._get_param_names()}.")
            return cls(**value)
        if cls.shorthand and not isinstance(value, Spec | bool):
            return cls(**{cls.shorthand: value})
        raise InputError(f"{owner or cls.__name__} must be a {cls.__name__}"
                         f"{' or a ' + cls.shorthand if cls.shorthand else ''}; got {value!r}.")

    def __repr__(self) -> str:
        return changed_repr(self)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            same_value(a, b) for a, b in zip(self.get_params().values(),
                                        other.get_params().values(), strict=True))

    __hash__ = None  # mutable, as scikit-learn's estimators


class Network(Spec):
    """The network: its architecture and sizes, built once per stage.

    Args:
        architecture: `"auto"` (an MLP for feature rows, the compact CNN for images, a
            transfer model when `backbone` is set), `"mlp"`, `"cnn"`, `"wrn"` (WRN-28-2),
            `"transfer"`, a `.keras` file, a `keras.Model` (cloned), or a function
            `(input_shape, n_classes) -> keras.Model`.
        backbone: for transfer learning, a `keras.applications` name (`"MobileNetV2"`,
            `"ResNet50"`, `"EfficientNetV2B0"`, ...) or `"cnn"`/`"wrn"`. Setting it selects
            a transfer model.
        weights: the backbone's weights: `"imagenet"` (Keras's cache, `~/.keras/models`),
            a path to a weights file, or `"none"`: random, and then the whole network trains
            (a frozen random backbone would have nothing to transfer).
        input_size: the side images are resized to inside a transfer model (default: the
            image side, raised to the backbone's minimum).
        head_units: transfer models: units of the head's hidden Dense layer.
        hidden_units: `"mlp"`: widths of the hidden layers.
        cnn_widths: `"cnn"`: filters of its stages (two 3x3 convolutions each); the cost per
            image grows with the square of the widths.
        activation: `"mlp"`: Keras activation of the hidden layers.
        dropout: dropout rate (MLP hidden layers, CNN and transfer heads).
        unfreeze: transfer models, self-training: a second phase unfreezes this many of the
            backbone's top layers (those with weights; BatchNormalization stays frozen and in
            inference mode) and trains again at `unfreeze_learning_rate`. 0 keeps the
            backbone frozen. None: 20 with pretrained weights.
        unfreeze_learning_rate: the second phase's learning rate (default: the stage's
            learning rate / 10).
        backbone_weights: a `.weights.h5` file from `fewlabels pretrain` (self-supervised
            pretraining on the unlabeled pool): the network's body, every layer below its
            output layer, starts from it, then trains as usual. The network must have the
            architecture, sizes and input shape it was pretrained with (`"mlp"`, `"cnn"`,
            `"wrn"` or a custom network; a transfer model takes `weights=PATH` instead).
    """

    shorthand = "architecture"
    _parameter_constraints: ClassVar[dict] = {
        "architecture": check_model_param,
        "backbone": p.optional(p.nonempty_string),
        "weights": p.nonempty_string,
        "input_size": p.optional(p.interval(int, 8, None)),
        "head_units": p.interval(int, 1, None),
        "hidden_units": p.int_sequence(1),
        "cnn_widths": p.int_sequence(1),
        "activation": p.nonempty_string,
        "dropout": p.interval(float, 0.0, 1.0, "left"),
        "unfreeze": p.optional(p.interval(int, 0, None)),
        "unfreeze_learning_rate": p.optional(p.interval(float, 0.0, None, "neither")),
        "backbone_weights": p.optional(p.nonempty_string),
    }

    def __init__(self, architecture: Any = "auto", *, backbone: str | None = None,
                 weights: str = "imagenet", input_size: int | None = None,
                 head_units: int = 256, hidden_units: Sequence[int] = (64, 64),
                 cnn_widths: Sequence[int] = (32, 64, 128), activation: str = "relu",
                 dropout: float = 0.1, unfreeze: int | None = None,
                 unfreeze_learning_rate: float | None = None,
                 backbone_weights: str | None = None) -> None:
        self.architecture = architecture
        self.backbone = backbone
        self.weights = weights
        self.input_size = input_size
        self.head_units = head_units
        self.hidden_units = hidden_units
        self.cnn_widths = cnn_widths
        self.activation = activation
        self.dropout = dropout
        self.unfreeze = unfreeze
        self.unfreeze_learning_rate = unfreeze_learning_rate
        self.backbone_weights = backbone_weights


class Views(Spec):
    """The two views consistency training compares, and how the step passes them.

    Args:
        weak: the weak view: an image policy (`"weak"`, `"classic"`, `"none"`, ...) or, for
            rows, `"noise"`; `"auto"` picks `"weak"` for images and `"noise"` for rows.
        strong: the strong view: `"strong"` for images, `"swap"` for rows (`"auto"`).
        augment_params: options of the image views' policies
            (`fewlabels.views.augment.build_policy`): `horizontal_flip=False` for digits and
            text keeps the weak view from mirroring them; `rotation`, `zoom`, ... for
            `classic`.
        noise: rows: Gaussian noise of the views, as a fraction of each feature's std.
        swap_rate: rows: the share of cells the strong view swaps between rows.
        separate_weak_pass: FixMatch, FlexMatch, FreeMatch, SoftMatch: pass the weak view
            on its own with no gradient instead of in the joint pass with the labeled and
            strong views. Faster steps, but BatchNorm normalizes the weak view by its own
            statistics; off by default, since that can cost accuracy (docs/consistency.md).
    """

    _parameter_constraints: ClassVar[dict] = {
        "weak": p.one_of("auto", *POLICIES, *TABULAR_VIEWS),
        "strong": p.one_of("auto", *POLICIES, *TABULAR_VIEWS),
        "augment_params": p.optional(p.mapping),
        "noise": p.interval(float, 0.0, None),
        "swap_rate": p.interval(float, 0.0, 1.0),
        "separate_weak_pass": p.boolean,
    }

    def __init__(self, weak: str = "auto", strong: str = "auto", *,
                 augment_params: dict | None = None, noise: float = 0.1,
                 swap_rate: float = 0.3, separate_weak_pass: bool = False) -> None:
        self.weak = weak
        self.strong = strong
        self.augment_params = augment_params
        self.noise = noise
        self.swap_rate = swap_rate
        self.separate_weak_pass = separate_weak_pass


class Optimizer(Spec):
    """The optimizer and its learning-rate schedule (a cosine decay over the steps).

    Args:
        name: `"sgd"` (Nesterov momentum 0.9, as FixMatch) or `"adam"` (AdamW).
        learning_rate: the initial learning rate, decayed by a cosine over the steps.
        weight_decay: decoupled weight decay.
        decay_all: the weight decay acts on every weight (True), or spares BatchNorm's
            scales and shifts and the biases (False), as large-batch practice does.
        warmup_fraction: the share of the steps over which the learning rate rises linearly
            from 0 before its cosine decay (0: none).
    """

    shorthand = "name"
    _parameter_constraints: ClassVar[dict] = {
        "name": p.one_of("sgd", "adam"),
        "learning_rate": p.interval(float, 0.0, None, "neither"),
        "weight_decay": p.interval(float, 0.0, None),
        "decay_all": p.boolean,
        "warmup_fraction": p.interval(float, 0.0, 1.0, "left"),
    }

    def __init__(self, name: str = "sgd", *, learning_rate: float = 0.03,
                 weight_decay: float = 5e-4, decay_all: bool = True,
                 warmup_fraction: float = 0.0) -> None:
        self.name = name
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.decay_all = decay_all
        self.warmup_fraction = warmup_fraction


class Budget(Spec):
    """How long training runs: optimizer steps, or wall-clock seconds.

    Args:
        steps: optimizer steps in all (consistency training: default 1000; the table
            ensemble's network member: 600).
        seconds: a wall-clock budget instead of `steps`. Consistency training sizes its step
            count to fill it from a throwaway fit of three epochs with the same settings
            (the later two timed, their validation and logging included; the fit's setup and
            compile taken off the budget) and keeps it in `n_steps_` and the checkpoints, so
            a resumed run keeps it. Self-training times a few steps and shares the seconds
            among its stages by their rows (`plan_`). With both set, `seconds` rules.
        steps_per_epoch: consistency training: steps between two epochs' logs, validation
            and warnings (default 100).
    """

    _parameter_constraints: ClassVar[dict] = {
        "steps": p.optional(p.interval(int, 1, None)),
        "seconds": p.optional(p.interval(float, 0.0, None, "neither")),
        "steps_per_epoch": p.optional(p.interval(int, 1, None)),
    }

    def __init__(self, steps: int | None = None, *, seconds: float | None = None,
                 steps_per_epoch: int | None = None) -> None:
        self.steps = steps
        self.seconds = seconds
        self.steps_per_epoch = steps_per_epoch

    def filled(self, default: Budget) -> Budget:
        """This budget with the settings it leaves unset (None) taken from `default`."""
        return default.replace(**{k: v for k, v in self.get_params().items() if v is not None})


class WeightAverage(Spec):
    """The moving average of the weights that evaluates and saves the model.

    Args:
        momentum: the EMA's momentum (0: none). None: `min(0.999, 1 - 10 / steps)`, so that
            the average spans at most a tenth of training (FixMatch's 0.999 assumes about a
            million steps).
        warmup: the pace of the EMA's warm-up: its momentum at step `n` is
            `min(momentum, n / (n + warmup))`, so the average follows the network from the
            first steps (TensorFlow's `ExponentialMovingAverage` rule at 9). 0: no warm-up; a
            plain EMA then still weighs the random initial weights at `momentum ** n` after
            `n` steps (docs/consistency.md).
        targets: FixMatch, FlexMatch, FreeMatch, SoftMatch: the pseudo-labels come from the
            weight average in inference mode (a pass with no gradient), not from the network
            being trained (`SemiSupervisedModel`).
        reestimate_bn: after training, recompute the BatchNorm statistics for the averaged
            weights on the clean training images (`fewlabels.training.labelling`): the
            average's weights never had statistics of their own.
    """

    _parameter_constraints: ClassVar[dict] = {
        "momentum": p.optional(p.interval(float, 0.0, 1.0, "left")),
        "warmup": p.interval(float, 0.0, None),
        "targets": p.boolean,
        "reestimate_bn": p.boolean,
    }

    def __init__(self, momentum: float | None = None, *, warmup: float = 9.0,
                 targets: bool = False, reestimate_bn: bool = True) -> None:
        self.momentum = momentum
        self.warmup = warmup
        self.targets = targets
        self.reestimate_bn = reestimate_bn


class Stopping(Spec):
    """When a self-training stage stops: at most `epochs`, early on a validation split.

    Args:
        epochs: the most epochs per training stage (early stopping usually ends sooner).
        patience: epochs without validation improvement before a stage stops.
        min_steps: optimizer steps a stage runs before early stopping may act. With a few
            validation rows, the validation loss often bottoms out after a few epochs, which
            would leave the model underfit (see docs/self-training.md).
        validation_fraction: share of each labeled class held out for early stopping.
    """

    _parameter_constraints: ClassVar[dict] = {
        "epochs": p.interval(int, 1, None),
        "patience": p.interval(int, 0, None),
        "min_steps": p.interval(int, 0, None),
        "validation_fraction": p.interval(float, 0.0, 1.0, "left"),
    }

    def __init__(self, epochs: int = 200, *, patience: int = 20, min_steps: int = 300,
                 validation_fraction: float = 0.2) -> None:
        self.epochs = epochs
        self.patience = patience
        self.min_steps = min_steps
        self.validation_fraction = validation_fraction


class Selection(Spec):
    """Which unlabeled rows a self-training round accepts, and how they train.

    Args:
        criterion: `"threshold"` (accept the rows whose confidence is above `threshold`,
            strictly, as scikit-learn's) or `"k_best"` (accept the `k_best` most confident
            rows of the pool each round).
        threshold: the confidence `"threshold"` must exceed.
        k_best: rows per round for `"k_best"` (all that are left, when fewer).
        class_balance: share each round's pseudo-labels among classes by the labeled prior:
            the criterion sets how many rows a round accepts, and each class takes its share
            from its own most confident predictions. This caps a class the model
            over-predicts and keeps a hard class from starving.
        calibrate: before each round's selection, fit a temperature on the validation rows
            (`fewlabels.calibration`) and apply it to the predictions the criterion reads,
            so that a confidence threshold means what it says; each round records the
            temperature and the validation ECE before and after. None (the default): on
            where a validation split exists, that is for a network; off for `estimator=`,
            whose labeled rows all train. True with `estimator=` holds out the stopping
            `validation_fraction` to fit on.
        soft_labels: train on the predicted probabilities instead of one-hot pseudo-labels.
        pseudo_weight: sample weight of pseudo-labeled rows (labeled rows weigh 1).
    """

    _parameter_constraints: ClassVar[dict] = {
        "criterion": p.one_of("threshold", "k_best"),
        "threshold": p.interval(float, 0.0, 1.0),
        "k_best": p.interval(int, 1, None),
        "class_balance": p.boolean,
        "calibrate": p.optional(p.boolean),
        "soft_labels": p.boolean,
        "pseudo_weight": p.interval(float, 0.0, None),
    }

    def __init__(self, criterion: str = "threshold", *, threshold: float = 0.9,
                 k_best: int = 10, class_balance: bool = True, calibrate: bool | None = None,
                 soft_labels: bool = False, pseudo_weight: float = 1.0) -> None:
        self.criterion = criterion
        self.threshold = threshold
        self.k_best = k_best
        self.class_balance = class_balance
        self.calibrate = calibrate
        self.soft_labels = soft_labels
        self.pseudo_weight = pseudo_weight


class FineTune(Spec):
    """Self-training's last stage: training again on the labeled rows alone.

    Args:
        epochs: the most fine-tuning epochs.
        learning_rate: the fine-tuning learning rate (default: the stages' / 10).
    """

    _parameter_constraints: ClassVar[dict] = {
        "epochs": p.interval(int, 1, None),
        "learning_rate": p.optional(p.interval(float, 0.0, None, "neither")),
    }

    def __init__(self, epochs: int = 30, *, learning_rate: float | None = None) -> None:
        self.epochs = epochs
        self.learning_rate = learning_rate

    @classmethod
    def of(cls, value: Any, owner: str = "") -> FineTune | None:
        """`True` (or None) is the default fine-tuning, `False` none at all."""
        if value is True:
            return cls()
        if value is False:
            return None
        return super().of(value, owner)


class Graph(Spec):
    """The table ensemble's graph member: label spreading over a k-nearest-neighbour graph.

    Args:
        features: where neighbours are measured: `"rows"` (the standardized rows) or
            `"network"` (the network member's last hidden layer; the network must be a
            member). `graph="network"` in the ensemble is `Graph("network")`.
        n_neighbors: the neighbours of each row in the graph.
        alpha: label spreading's clamping factor: how much of a row's class distribution
            comes from its neighbours rather than its own label.
    """

    _parameter_constraints: ClassVar[dict] = {
        "features": p.one_of("rows", "network"),
        "n_neighbors": p.interval(int, 1, None),
        "alpha": p.interval(float, 0.0, 1.0, "neither"),
    }
    shorthand = "features"

    def __init__(self, features: str = "rows", *, n_neighbors: int = 7,
                 alpha: float = 0.2) -> None:
        self.features = features
        self.n_neighbors = n_neighbors
        self.alpha = alpha


def changed_repr(obj) -> str:
    """`Name(a=1, b='x')` with the parameters of `obj` that differ from their defaults (an
    estimator's or a spec's `repr`, as scikit-learn's)."""
    defaults = {name: q.default for name, q in
                inspect.signature(type(obj).__init__).parameters.items()}
    shown = [f"{k}={v!r}" for k, v in obj.get_params(deep=False).items()
             if not (k in defaults and same_value(defaults[k], v))]
    return f"{type(obj).__name__}({', '.join(shown)})"


def same_value(a: Any, b: Any) -> bool:
    """Whether two settings are equal (a tuple equals the list JSON gave back; arrays and
    models that cannot be compared are not)."""
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return list(a) == list(b)
    try:
        return bool(a == b) if type(a) is type(b) or (
            isinstance(a, int | float) and isinstance(b, int | float)) else False
    except Exception:  # values that cannot be compared (arrays, models)
        return False


SPECS = (Network, Views, Optimizer, Budget, WeightAverage, Stopping, Selection, FineTune,
         Graph)
"""Every spec class (exported by `fewlabels`)."""
