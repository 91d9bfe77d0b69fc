"""A network's body: every layer below its output layer, whose weights pretraining carries.

`fewlabels pretrain` trains a network's body on unlabeled data and saves its weights; a later
fit builds the same network for its own classes and loads them into its body
(`Network(backbone_weights=PATH)`, `fit --backbone-weights PATH`). The output layer (the
Dense layer named `probabilities`, `class_probabilities`) is new for every task.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras

from fewlabels.errors import InputError

OUTPUT_LAYER = "probabilities"
SUFFIX = ".weights.h5"


def network_body(model: keras.Model) -> keras.Model:
    """The model from the network's input to what its output layer reads (shared layers).

    Args:
        model: a functional network whose output layer is named `probabilities` (every
            network fewlabels builds).

    Returns:
        A `keras.Model` sharing `model`'s layers and weights.
    """
    try:
        layer = model.get_layer(OUTPUT_LAYER)
    except ValueError as err:
        raise InputError(f"network {model.name!r} has no output layer named "
                         f"{OUTPUT_LAYER!r}, so it has no body to pretrain or load.") from err
    return keras.Model(model.inputs, layer.input, name=f"{model.name}_body")


def save_body_weights(model: keras.Model, path: str | Path) -> Path:
    """Save the weights of `model`'s body (`network_body`) to `path` (`.weights.h5`)."""
    path = Path(path)
    _check_name(path)
    network_body(model).save_weights(path)
    return path


def load_body_weights(model: keras.Model, path: str | Path) -> None:
    """Load `path` (from `save_body_weights`) into `model`'s body; refused, naming the file,
    when it holds weights for another architecture or other sizes."""
    path = Path(path)
    _check_name(path)
    if not path.is_file():
        raise InputError(f"{path}: no such weights file (fewlabels pretrain writes one).")
    try:
        with warnings.catch_warnings():  # Keras's note on the functional graph's own
            warnings.filterwarnings("ignore", message="Skipping nested container")  # nodes
            network_body(model).load_weights(path)
    except (ValueError, KeyError, OSError) as err:
        said = _mismatch(str(err))
        raise InputError(f"{path}: these weights are not for this network's body ({said}); "
                         "pretrain with the same architecture, sizes and input shape.") from err


def _mismatch(message: str) -> str:
    """Keras's load error in a few words: the first variable whose shape differs."""
    import re

    found = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))"
                      r".*?path=([^,\s]+)", message, re.S)
    if found:
        return f"{found.group(3)} is {found.group(1)} in the network, {found.group(2)} in the file"
    return message.splitlines()[0][:200] if message else "no message"


def _check_name(path: Path) -> None:
    if not path.name.endswith(SUFFIX):
        raise InputError(f"{path}: a weights file name must end in {SUFFIX}.")
