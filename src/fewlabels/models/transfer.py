"""Transfer learning: a `keras.applications` backbone without its top, and a new head.

`build_transfer_model` wraps any backbone of `keras.applications` (VGG16, ResNet50,
ResNet50V2, InceptionV3, MobileNetV2, MobileNetV3Small/Large, EfficientNetV2B0, ConvNeXtTiny,
...) as:

    images (0..255, gray or RGB, any size)
      -> gray to RGB, resize to at least the backbone's minimum size
      -> the backbone's own preprocessing, as safe layers
      -> backbone (include_top=False; frozen, in inference mode)
      -> GlobalAveragePooling2D -> Dense(256, relu) -> Dropout -> softmax

The preprocessing is the backbone's own `preprocess_input`, found by applying it to a probe
tensor and matching the result against the modes Keras uses ("tf", "torch", "caffe", or none
when the backbone preprocesses internally). It is rebuilt from `Rescaling`, `Normalization`
and a fixed 1x1 convolution (for caffe's RGB-to-BGR swap), never a `Lambda`, so the saved model
loads under Keras's `safe_mode`. A test checks it against `preprocess_input` for every
backbone named above.

Weights: `None` (random), `"imagenet"` (Keras's cache, `$KERAS_HOME/models`, else a download;
offline, a missing file fails at once, saying which file to put where), or a path to a weights
file for the backbone (for example one saved by `save_backbone_weights` after pretraining on a
related labeled task).

fewlabels' own CPU backbones, `"cnn"` (the compact CNN) and `"wrn"` (WRN-28-2), work the same
way: their body up to global pooling is the backbone, gray images stay gray, and their
weights come from a file (no ImageNet weights exist for them).

Pretraining a backbone yourself: `build_transfer_model(..., frozen=False)` gives the same model
with a trainable backbone in training mode; train it on the source task, then
`save_backbone_weights(model, path)`, and build the target model with `weights=path`.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import keras
import numpy as np

from fewlabels.errors import InputError
from fewlabels.models.output import class_probabilities

OWN_BACKBONES = ("cnn", "wrn")
"""fewlabels' own from-scratch backbones, usable as transfer backbones with weights from a file."""
MIN_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
"""Backbones needing more than 32x32 inputs (Keras refuses smaller ones)."""
DEFAULT_MIN_SIZE = 32
PRETRAIN_BN_MOMENTUM = 0.9
"""BatchNormalization momentum of a backbone built for pretraining (`frozen=False`)."""
BACKBONE_LAYER = "backbone"

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]) * 255.0
_IMAGENET_STD = np.array([0.229, 0.224, 0.225]) * 255.0
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])


def backbone_names() -> list[str]:
    """The model constructors `keras.applications` offers."""
    return sorted(n for n in dir(keras.applications)
                  if n[0].isupper() and callable(getattr(keras.applications, n)))


def preprocessing_mode(name: str) -> str:
    """How a backbone preprocesses: `"tf"`, `"torch"`, `"caffe"` or `"none"`.

    Found by applying the backbone's own `preprocess_input` to a probe tensor.
    """
    constructor = _constructor(name)
    module = importlib.import_module(constructor.__module__)
    probe = np.random.default_rng(0).uniform(0, 255, (1, 2, 2, 3)).astype("float32")
    out = np.asarray(keras.ops.convert_to_numpy(module.preprocess_input(probe.copy())))
    candidates = {
        "none": probe,
        "tf": probe / 127.5 - 1.0,
        "torch": (probe - _IMAGENET_MEAN) / _IMAGENET_STD,
        "caffe": probe[..., ::-1] - _CAFFE_MEAN_BGR,
    }
    for mode, expected in candidates.items():
        if out.shape == expected.shape and np.allclose(out, expected, atol=1e-3):
            return mode
    raise InputError(
        f"{name}: its preprocess_input matches none of the known modes; fewlabels cannot "
        "rebuild it from safe layers."
    )


def preprocessing_layers(mode: str) -> list[keras.layers.Layer]:
    """Safe Keras layers computing a `preprocess_input` mode on RGB images in 0..255."""
    if mode == "none":
        return []
    if mode == "tf":
        return [keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess_tf")]
    if mode == "torch":
        return [keras.layers.Normalization(mean=_IMAGENET_MEAN.tolist(),
                                           variance=(_IMAGENET_STD ** 2).tolist(),
                                           name="preprocess_torch")]
    if mode == "caffe":
        # RGB -> BGR and minus the ImageNet mean: one fixed 1x1 convolution.
        swap = np.zeros((1, 1, 3, 3), dtype="float32")
        for i in range(3):
            swap[0, 0, 2 - i, i] = 1.0
        conv = keras.layers.Conv2D(3, 1, trainable=False, name="preprocess_caffe")
        conv.build((None, None, None, 3))
        conv.set_weights([swap, -_CAFFE_MEAN_BGR.astype("float32")])
        return [conv]
    raise InputError(f"unknown preprocessing mode {mode!r}.")


def build_backbone(name: str, input_size: int, weights: str | Path | None = None, *,
                   channels: int = 3) -> keras.Model:
    """A backbone without its classifier: `keras.applications` (`include_top=False`) or own.

    Args:
        name: a constructor name from `keras.applications` (see `backbone_names()`), or
            `"cnn"` / `"wrn"` for fewlabels' own backbones.
        input_size: the square input side, at least the backbone's minimum.
        weights: `None`, `"imagenet"` (`keras.applications` only), or a path to a weights
            file for this backbone.
        channels: own backbones: the input channels (keras.applications ones take RGB).

    Returns:
        The backbone model.
    """
    if name in OWN_BACKBONES:
        from fewlabels.models.cnn import build_cnn, build_wrn

        if weights == "imagenet":
            raise InputError(
                f"there are no ImageNet weights for fewlabels' own {name!r} backbone: pass "
                "weights=PATH (a file from save_backbone_weights) or weights=None."
            )
        full = (build_cnn if name == "cnn" else build_wrn)((input_size, input_size, channels), 2)
        backbone = keras.Model(full.inputs, full.get_layer("pool").input, name=f"{name}_body")
        if weights is not None:
            _load_backbone_weights(backbone, name, weights)
        return backbone
    constructor = _constructor(name)
    shape = (input_size, input_size, 3)
    if weights is None or weights == "imagenet":
        try:
            return constructor(include_top=False, weights=weights, input_shape=shape)
        except Exception as err:  # Keras reports a failed download as a bare Exception
            if weights == "imagenet" and "URL fetch failure" in str(err):
                match = re.search(r"/([^/\s:]+\.h5)", str(err))
                file = match.group(1) if match else "the weights file"
                raise InputError(
                    f"ImageNet weights for {name} are not in Keras's cache and cannot be "
                    f"downloaded here ({err}). Put {file} into ~/.keras/models/ (or "
                    "$KERAS_HOME/models/), or pass weights=PATH (CLI: --weights PATH) to a "
                    "weights file for this backbone."
                ) from err
            raise
    backbone = constructor(include_top=False, weights=None, input_shape=shape)
    _load_backbone_weights(backbone, name, weights)
    return backbone


def _load_backbone_weights(backbone: keras.Model, name: str, weights: str | Path) -> None:
    from fewlabels.model_files import check_model_file

    path = Path(weights)
    if not path.is_file():
        raise InputError(f"{path}: no such weights file for {name}.")
    check_model_file(path)  # no HDF5 external links, no shape bombs
    try:
        backbone.load_weights(path)
    except Exception as err:  # wrong architecture, wrong file type, truncated file
        raise InputError(f"{path}: these are not weights for {name} ({err}).") from err


def save_backbone_weights(model: keras.Model, path: str | Path) -> Path:
    """Save the backbone of a transfer model, for `weights=path` in a later model.

    Args:
        model: a model from `build_transfer_model` (typically with `frozen=False`, trained
            on a related labeled task).
        path: the file to write; Keras requires the suffix `.weights.h5`.

    Returns:
        The path written.

    Example:
    ```python
    source = build_transfer_model("cnn", (28, 28, 1), 5, weights=None, frozen=False)
    ...  # compile and fit on the source task
    save_backbone_weights(source, "cnn.weights.h5")
    target = build_transfer_model("cnn", (28, 28, 1), 5, weights="cnn.weights.h5")
    ```
    """
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise InputError(f"{path}: a weights file name must end in .weights.h5.")
    model.get_layer(BACKBONE_LAYER).save_weights(path)
    return path


def build_transfer_model(
    backbone: str,
    input_shape: tuple[int, int, int],
    n_classes: int,
    *,
    weights: str | Path | None = "imagenet",
    input_size: int | None = None,
    head_units: int = 256,
    dropout: float = 0.5,
    frozen: bool = True,
) -> keras.Model:
    """A classifier made of a frozen pretrained backbone and a new head.

    Args:
        backbone: a `keras.applications` constructor name, such as `"MobileNetV2"`.
        input_shape: the images' `(height, width, channels)`, channels 1 (gray) or 3.
        n_classes: the number of classes.
        weights: `"imagenet"`, a path to backbone weights, or `None` (random).
        input_size: the side the images are resized to (default: the image's side, raised to
            the backbone's minimum).
        head_units: units of the head's hidden Dense layer.
        dropout: dropout before the softmax.
        frozen: True (default): the backbone is frozen and runs in inference mode. False:
            it is trainable and runs in training mode (BatchNormalization learns its
            statistics), for pretraining a backbone on a labeled source task. Its
            BatchNormalization momentum is then lowered to `PRETRAIN_BN_MOMENTUM` (0.9):
            `keras.applications` uses 0.999, meant for ImageNet-length training, which
            leaves the moving statistics far off after a CPU budget of steps
            (docs/images.md).

    Returns:
        An uncompiled `keras.Model` from images in 0..255 to class probabilities. The backbone
        (the layer named `"backbone"`) is frozen and runs in inference mode, so its
        BatchNormalization statistics do not change (see `unfreeze_top`).

    Example:
    ```python
    model = build_transfer_model("MobileNetV2", (28, 28, 1), 10, weights="backbone.weights.h5")
    ```
    """
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
        raise InputError(
            f"input_shape must be (height, width, 1 or 3); got {tuple(input_shape)}."
        )
    if n_classes < 2:
        raise InputError(f"n_classes must be at least 2; got {n_classes}.")
    own = backbone in OWN_BACKBONES
    minimum = 1 if own else MIN_SIZE.get(backbone, DEFAULT_MIN_SIZE)
    side = input_size or max(input_shape[0], input_shape[1], minimum)
    base = build_backbone(backbone, side, weights, channels=input_shape[-1])
    base.trainable = not frozen
    if not frozen:
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = min(layer.momentum, PRETRAIN_BN_MOMENTUM)
    base.name = BACKBONE_LAYER
    inputs = keras.Input(input_shape, name="images")
    h = inputs
    if input_shape[-1] == 1 and not own:
        h = keras.layers.Concatenate(name="gray_to_rgb")([h, h, h])
    if (input_shape[0], input_shape[1]) != (side, side):
        h = keras.layers.Resizing(side, side, name="resize")(h)
    for layer in [] if own else preprocessing_layers(preprocessing_mode(backbone)):
        h = layer(h)
    # Frozen: inference mode, also once unfrozen (BatchNorm stays put). Pretraining: as usual.
    h = base(h, training=False) if frozen else base(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    h = keras.layers.Dense(head_units, activation="relu", name="head_dense")(h)
    h = keras.layers.Dropout(dropout, name="head_dropout")(h)
    outputs = class_probabilities(h, n_classes)
    return keras.Model(inputs, outputs, name=f"transfer_{backbone.lower()}")


def unfreeze_top(model: keras.Model, n_layers: int) -> int:
    """Unfreeze the top `n_layers` weight-carrying layers of the backbone for fine-tuning.

    BatchNormalization layers stay frozen, and the backbone keeps running in inference mode
    (it was called with `training=False`), as the Keras transfer-learning guide prescribes:
    otherwise the first fine-tuning steps wreck the pretrained statistics.

    Args:
        model: a model from `build_transfer_model`.
        n_layers: how many of the backbone's top layers with weights (BatchNormalization
            not counted) to unfreeze (0: none).

    Returns:
        The number of layers unfrozen.
    """
    base = model.get_layer(BACKBONE_LAYER)
    base.trainable = True
    candidates = [layer for layer in base.layers if layer.weights
                  and not isinstance(layer, keras.layers.BatchNormalization)]
    top = candidates[len(candidates) - n_layers:] if n_layers > 0 else []
    chosen = {id(layer) for layer in top}
    unfrozen = 0
    for layer in base.layers:
        trainable = id(layer) in chosen and not isinstance(layer,
                                                           keras.layers.BatchNormalization)
        layer.trainable = trainable
        unfrozen += trainable
    return unfrozen


def _constructor(name: str):
    if name not in backbone_names():
        raise InputError(
            f"unknown backbone {name!r}; use fewlabels' own 'cnn' or 'wrn', or one that "
            f"keras.applications offers: {', '.join(backbone_names())}."
        )
    return getattr(keras.applications, name)
