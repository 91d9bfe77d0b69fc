"""Which network an estimator builds, and building it: one place for `model=` and `backbone=`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fewlabels.errors import InputError

MODELS = ("auto", "mlp", "cnn", "wrn", "transfer")
IMAGE_MODELS = ("cnn", "wrn", "transfer")


def check_model_param(name: str, value) -> None:
    """A network name from `MODELS`, a `.keras` file, a `keras.Model`, or a function
    building one."""
    if isinstance(value, str):
        if is_model_file(value):
            if not Path(value).is_file():
                raise InputError(f"{name}: {value}: no such model file.")
        elif value not in MODELS:
            raise InputError(f"{name} must be one of {list(MODELS)}, a .keras file, a "
                             "keras.Model or a function (input_shape, n_classes) -> "
                             f"keras.Model; got {value!r}.")
    elif not callable(value):
        raise InputError(f"{name} must be a network name, a keras.Model or a function "
                         f"(input_shape, n_classes) -> keras.Model; got {value!r}.")


def choose_network(model, backbone: str | None, ndim: int) -> str:
    """The network for inputs of `ndim` dimensions (2: rows, 4: images).

    `"auto"` picks the MLP for rows, the CNN for images, and a transfer model when `backbone`
    is set; a `keras.Model` or a function building one is `"custom"`. Contradictions are named.
    """
    if not isinstance(model, str) or is_model_file(model):
        if backbone is not None:
            raise InputError("backbone= builds a transfer model; pass it or your own model, "
                             "not both.")
        return "custom"
    if backbone is not None and model not in ("auto", "transfer"):
        raise InputError(
            f"backbone={backbone!r} builds a transfer model, but model={model!r}; leave "
            "model='auto' (or 'transfer') to use a backbone."
        )
    network = model
    if network == "auto":
        network = "transfer" if backbone else ("mlp" if ndim <= 2 else "cnn")
    if network == "transfer" and backbone is None:
        raise InputError(
            "model='transfer' needs a backbone: a keras.applications name such as "
            "backbone='MobileNetV2'."
        )
    if ndim >= 3 and network == "mlp":
        raise InputError(
            "model='mlp' takes feature rows (n, n_features); for images use model='auto', "
            "'cnn', 'wrn' or 'transfer'."
        )
    if ndim <= 2 and network in IMAGE_MODELS:
        raise InputError(
            f"model={network!r} takes images (n, height, width, channels); got feature rows. "
            "Use model='auto' or 'mlp' for tables."
        )
    return network


def build_network(network: str, X: np.ndarray, n_classes: int, spec):
    """Build `network` for inputs like `X`, as a network spec sets it.

    Args:
        network: `"mlp"`, `"cnn"`, `"wrn"`, `"transfer"` or `"custom"` (see
            `choose_network`).
        X: the training inputs (the MLP adapts its standardization to them).
        n_classes: the number of classes.
        spec: a `fewlabels.estimators.specs.Network` (its `architecture` as given, for a
            custom network; `hidden_units`, `dropout`, `backbone`, ...).

    Returns:
        An uncompiled Keras model from inputs to class probabilities; its body starts from
        `spec.backbone_weights` when set (`fewlabels.models.body`).
    """
    weights = getattr(spec, "backbone_weights", None)
    if weights is None:
        return _build(network, X, n_classes, spec)
    if network == "transfer":
        raise InputError("backbone_weights starts fewlabels' own networks from a pretrained "
                         "file; a transfer model takes its backbone's file as weights=PATH "
                         "(--weights PATH).")
    from fewlabels.models.body import load_body_weights

    model = _build(network, X, n_classes, spec)
    load_body_weights(model, weights)
    return model


def _build(network: str, X: np.ndarray, n_classes: int, spec):
    """`build_network`'s model, with its initial weights."""
    from fewlabels.models import build_cnn, build_mlp, build_wrn

    if network == "custom":
        from fewlabels.models.custom import build_custom

        return build_custom(spec.architecture, X.shape[1:], n_classes)
    if network == "cnn":
        return build_cnn(X.shape[1:], n_classes, dropout=spec.dropout,
                         widths=tuple(spec.cnn_widths))
    if network == "wrn":
        return build_wrn(X.shape[1:], n_classes)
    if network == "transfer":
        from fewlabels.models.transfer import build_transfer_model

        random = not pretrained(spec.weights)
        return build_transfer_model(
            spec.backbone, X.shape[1:], n_classes,
            weights=None if random else spec.weights,
            input_size=spec.input_size, head_units=spec.head_units, dropout=spec.dropout,
            frozen=not random,  # a random backbone has nothing to keep: it trains whole
        )
    return build_mlp(X.shape[1], n_classes, hidden_units=spec.hidden_units,
                     activation=spec.activation, dropout=spec.dropout, adapt_data=X)


def is_model_file(model) -> bool:
    """Whether `model` names a saved Keras network (`"net.keras"`), the command line's way
    to pass one's own network."""
    return isinstance(model, str) and model.lower().endswith(".keras")


def pretrained(weights: str) -> bool:
    """Whether a transfer backbone's `weights` setting loads pretrained weights."""
    return str(weights).lower() not in ("none", "random")
