"""Small from-scratch image backbones for CPU training: a compact CNN and WRN-28-2.

Both take float images in 0..255 and rescale them inside the model, so a saved model needs no
separate preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from fewlabels.errors import InputError
from fewlabels.models.output import class_probabilities


def build_cnn(
    input_shape: tuple[int, int, int],
    n_classes: int,
    *,
    widths: Sequence[int] = (32, 64, 128),
    dropout: float = 0.25,
    bn_momentum: float = 0.9,
    name: str = "cnn",
) -> keras.Model:
    """A compact CNN: per stage two 3x3 Conv-BN-ReLU and a 2x2 max-pool, then GAP and softmax.

    Args:
        input_shape: `(height, width, channels)`.
        n_classes: the number of classes.
        widths: filters per stage; a stage is skipped once the feature map is 1 pixel wide.
        dropout: dropout before the classifier.
        bn_momentum: batch-normalization momentum. 0.9 lets the moving statistics that
            inference uses converge within tens of steps; Keras's 0.99 needs far more steps
            than a CPU budget gives.
        name: the model's name.

    Returns:
        An uncompiled `keras.Model` from images (0..255) to class probabilities.

    Example:
    ```python
    model = build_cnn((28, 28, 1), 10)
    ```
    """
    _check_input(input_shape, n_classes)
    inputs = keras.Input(input_shape, name="images")
    h = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    size = min(input_shape[:2])
    for stage, width in enumerate(widths, start=1):
        for conv in (1, 2):
            h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                    name=f"stage{stage}_conv{conv}")(h)
            h = keras.layers.BatchNormalization(momentum=bn_momentum,
                                                name=f"stage{stage}_bn{conv}")(h)
            h = keras.layers.ReLU(name=f"stage{stage}_relu{conv}")(h)
        if size >= 2:
            h = keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool")(h)
            size //= 2
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    if dropout:
        h = keras.layers.Dropout(dropout, name="dropout")(h)
    outputs = class_probabilities(h, n_classes)
    return keras.Model(inputs, outputs, name=name)


def build_wrn(
    input_shape: tuple[int, int, int],
    n_classes: int,
    *,
    depth: int = 28,
    widen: int = 2,
    bn_momentum: float = 0.99,
    leaky_slope: float = 0.1,
    name: str | None = None,
) -> keras.Model:
    """A Wide ResNet (Zagoruyko & Komodakis, 2016) as used in semi-supervised learning.

    The defaults give WRN-28-2 (about 1.47M parameters), the backbone of the FixMatch paper
    and of Oliver et al. (2018), with their choices of pre-activation blocks and leaky ReLU with
    slope 0.1. Batch-norm momentum is 0.99, not their 0.999: that setting assumes about a
    million steps, and after the few thousand a CPU budget allows, its moving statistics
    would still be far from the data's.

    Args:
        input_shape: `(height, width, channels)`.
        n_classes: the number of classes.
        depth: `6n + 4` layers (28: 4 blocks per group).
        widen: the width multiplier k (filters 16k, 32k, 64k).
        bn_momentum: batch-normalization momentum.
        leaky_slope: the negative slope of the leaky ReLU.
        name: the model's name (default `wrn-<depth>-<widen>`).

    Returns:
        An uncompiled `keras.Model` from images (0..255) to class probabilities.
    """
    _check_input(input_shape, n_classes)
    if (depth - 4) % 6 or depth < 10:
        raise InputError(f"WRN depth must be 6n + 4 with n >= 1; got {depth}.")
    n = (depth - 4) // 6
    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    inputs = keras.Input(input_shape, name="images")
    h = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    h = keras.layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem")(h)

    def bn_act(x, label):
        x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{label}_bn")(x)
        return keras.layers.LeakyReLU(leaky_slope, name=f"{label}_act")(x)

    for group in range(3):
        for block in range(n):
            label = f"g{group + 1}b{block + 1}"
            stride = 2 if group > 0 and block == 0 else 1
            width = widths[group + 1]
            pre = bn_act(h, f"{label}_pre")
            shortcut = h
            if h.shape[-1] != width or stride != 1:
                shortcut = keras.layers.Conv2D(width, 1, strides=stride, use_bias=False,
                                               name=f"{label}_shortcut")(pre)
            y = keras.layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False,
                                    name=f"{label}_conv1")(pre)
            y = bn_act(y, f"{label}_mid")
            y = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                    name=f"{label}_conv2")(y)
            h = keras.layers.Add(name=f"{label}_add")([shortcut, y])
    h = bn_act(h, "final")
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = class_probabilities(h, n_classes)
    return keras.Model(inputs, outputs, name=name or f"wrn-{depth}-{widen}")


def _check_input(input_shape, n_classes) -> None:
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise InputError(
            f"input_shape must be (height, width, channels); got {tuple(input_shape)}."
        )
    if n_classes < 2:
        raise InputError(f"n_classes must be at least 2; got {n_classes}.")
