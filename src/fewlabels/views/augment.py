"""Named augmentation policies, built from Keras's own preprocessing layers.

Each policy is a `keras.layers.Pipeline` of random layers, so it runs inside `tf.data` on the
fly, as TensorFlow ops whichever Keras backend trains the model (a `keras.Sequential` would
convert its inputs to the backend's tensors there). Images are float tensors in `value_range`
(default `(0, 255)`), shaped `(batch, height, width, channels)`; gray images have one channel.

- `none`: the identity.
- `classic`: the `ImageDataGenerator` recipe that tutorials copy: rotation 10 degrees,
  width/height shift 0.1, shear 0.2 degrees, zoom 0.2, horizontal and vertical flips, fill mode
  `nearest`. Every parameter is adjustable, and either flip can be turned off.
- `weak`: FixMatch's weak view: a horizontal flip (where the data allows it) and a
  translation of up to 12.5% in whole pixels (nearest sampling: FixMatch's pad-and-crop,
  with no bilinear blur), with reflected borders (Sohn et al. 2020, section 2.3), or filled
  with the background when the images have a plain one (`background=`, see
  `plain_background`).
- `strong`: FixMatch's strong view: RandAugment with 2 operations and random magnitudes drawn
  per image, then Cutout (Sohn et al. 2020, section 2.3 and appendix D; on a plain
  background, Cutout fills with it and Solarize leaves it as it is), as
  `fewlabels.views.randaugment.RandAugment` (Keras's `RandAugment` draws its operations once per
  batch and, at its default strength, rotates up to 180 degrees).

Plain backgrounds: reflecting the border suits photographs, whose content goes on past the
frame; an object on a plain background (Fashion-MNIST, digits, product shots) reflected at
the border grows a mirrored copy of its edge. `plain_background(images)` finds such a
background, and the estimators pass it as `background=` to `weak` and `strong`, which then
fill with it (docs/images.md compares the two fills).

Known difference from `ImageDataGenerator`: it composed rotation, shift, shear and zoom into one
affine transform and resampled once; Keras's layers resample once each, so `classic` images
come out softer (bilinear interpolation applied up to four times). The geometry is the same:
each layer is the identity at zero strength, and the stack keeps object sizes and intensities
unchanged on average (tested). Keras has no single random-affine layer yet.

Example:
```python
from fewlabels.views.augment import build_policy
augment = build_policy("classic", seed=0)
dataset = dataset.map(lambda x, y: (augment(x, training=True), y))
```
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fewlabels.errors import InputError

if TYPE_CHECKING:  # Keras is imported when a policy is built, so `fewlabels --help` stays fast
    import keras

POLICIES = ("none", "classic", "weak", "strong")


POLICY_OPTIONS = ("rotation", "width_shift", "height_shift", "shear", "zoom", "horizontal_flip",
                  "vertical_flip", "fill_mode")
"""The options of `build_policy` an estimator's `augment_params` may set."""


def with_policy_options(params: dict) -> dict:
    """`params` with the augmentation policy's options (`rotation`, `horizontal_flip`, ...)
    moved into `augment_params`, as the estimators take them.

    Args:
        params: flat options (the command line's).

    Returns:
        A new dict.
    """
    params = dict(params)
    policy = {k: params.pop(k) for k in list(params) if k in POLICY_OPTIONS}
    if policy:
        params["augment_params"] = {**(params.get("augment_params") or {}), **policy}
    return params


def build_policy(
    name: str,
    *,
    rotation: float = 10.0,
    width_shift: float = 0.1,
    height_shift: float = 0.1,
    shear: float = 0.2,
    zoom: float = 0.2,
    horizontal_flip: bool = True,
    vertical_flip: bool = False,
    fill_mode: str = "nearest",
    value_range: tuple[float, float] = (0.0, 255.0),
    background: float | None = None,
    seed: int | None = None,
) -> keras.layers.Pipeline:
    """Build a named augmentation policy.

    Args:
        name: one of `"none"`, `"classic"`, `"weak"`, `"strong"`.
        rotation: `classic`: the largest rotation, in degrees either way.
        width_shift: `classic`: the largest horizontal shift, as a fraction of the width.
        height_shift: `classic`: the largest vertical shift, as a fraction of the height.
        shear: `classic`: the largest shear angle, in degrees either way, along x, as
            `ImageDataGenerator(shear_range=...)` applied it. Keras's `RandomShear` takes a
            shear fraction, so the angle is passed as its tangent.
        zoom: `classic`: zoom in `[1 - zoom, 1 + zoom]`, independently per axis.
        horizontal_flip: `classic` and `weak`: flip left-right half of the time (turn it off
            for digits and text, which a mirror changes).
        vertical_flip: `classic`: flip upside-down half of the time. Off by default: digits,
            text, scenes and most photographs must not be flipped vertically.
        fill_mode: `classic`: how to fill pixels that come from outside the image
            (`"nearest"`, `"reflect"`, `"wrap"` or `"constant"`).
        value_range: the range of pixel values (`strong` needs it for RandAugment).
        background: `weak` and `strong`: the value of the images' plain background (see
            `plain_background`); pixels from outside the image are filled with it. None:
            `weak` reflects the border, `strong` fills gray (the middle of `value_range`),
            as FixMatch.
        seed: seeds every random layer (each gets `seed + i`), for reproducible streams.

    Returns:
        A `keras.layers.Pipeline`; call it with `training=True` to augment.
    """
    import keras

    if name not in POLICIES:
        raise InputError(f"unknown augmentation policy {name!r}; choose from {POLICIES}.")
    layers = keras.layers
    seeds = iter(range(seed, seed + 100)) if seed is not None else iter([None] * 100)
    if name == "none":
        stack = [layers.Identity()]
    elif name == "classic":
        stack = _classic(seeds, rotation=rotation, width_shift=width_shift,
                         height_shift=height_shift, shear=shear, zoom=zoom,
                         horizontal_flip=horizontal_flip, vertical_flip=vertical_flip,
                         fill_mode=fill_mode)
    elif name == "weak":
        fill = {"fill_mode": "reflect"} if background is None else {
            "fill_mode": "constant", "fill_value": float(background)}
        stack = [layers.RandomFlip("horizontal", seed=next(seeds))] if horizontal_flip else []
        # nearest: each shift moves whole pixels (pad and crop), no bilinear blur
        stack.append(layers.RandomTranslation(0.125, 0.125, interpolation="nearest",
                                              seed=next(seeds), **fill))
    else:  # strong
        from fewlabels.views.randaugment import RandAugment

        stack = [RandAugment(num_ops=2, cutout=0.5, value_range=value_range,
                             fill_value=background, seed=next(seeds))]
    return keras.layers.Pipeline(stack, name=f"augment_{name}")


def _classic(seeds, *, rotation, width_shift, height_shift, shear, zoom, horizontal_flip,
             vertical_flip, fill_mode) -> list:
    """The layers of the `classic` policy (`ImageDataGenerator`'s transforms), checked."""
    import keras

    layers = keras.layers
    _check_fraction("width_shift", width_shift)
    _check_fraction("height_shift", height_shift)
    _check_fraction("zoom", zoom)
    if not 0 <= rotation <= 180:
        raise InputError(f"rotation must be in [0, 180] degrees; got {rotation!r}.")
    if not 0 <= shear < 90:
        raise InputError(f"shear must be in [0, 90) degrees; got {shear!r}.")
    if fill_mode not in ("nearest", "reflect", "wrap", "constant"):
        raise InputError(
            f"fill_mode must be nearest, reflect, wrap or constant; got {fill_mode!r}."
        )
    stack = []
    if rotation:
        stack.append(layers.RandomRotation(rotation / 360.0, fill_mode=fill_mode,
                                           seed=next(seeds)))
    if width_shift or height_shift:
        stack.append(layers.RandomTranslation(height_shift, width_shift, fill_mode=fill_mode,
                                              seed=next(seeds)))
    if shear:
        stack.append(layers.RandomShear(x_factor=math.tan(math.radians(shear)), y_factor=0.0,
                                        fill_mode=fill_mode, seed=next(seeds)))
    if zoom:
        stack.append(layers.RandomZoom(zoom, zoom, fill_mode=fill_mode, seed=next(seeds)))
    flip = {(True, True): "horizontal_and_vertical", (True, False): "horizontal",
            (False, True): "vertical"}.get((horizontal_flip, vertical_flip))
    if flip:
        stack.append(layers.RandomFlip(flip, seed=next(seeds)))
    return stack or [layers.Identity()]


def plain_background(images, value_range: tuple[float, float] = (0.0, 255.0),
                     sample: int = 1000) -> float | None:
    """The value of the images' plain background, or None when they have none.

    The border pixels (first and last rows and columns) of up to `sample` evenly spaced
    images are read; when at least 90% of them lie within 2% of the range of their median,
    the background is that median.

    Args:
        images: `(n, height, width, channels)` images.
        value_range: the range of pixel values.
        sample: how many images to read at most.

    Returns:
        The background value, or None.

    Example:
    ```python
    plain_background(fashion_mnist_images)   # 0.0: objects on black
    plain_background(photos)                 # None: reflect the borders
    ```
    """
    import numpy as np

    images = np.asarray(images)
    if images.ndim != 4 or min(images.shape[1:3]) < 3:
        return None
    rows = images[np.linspace(0, len(images) - 1, min(sample, len(images))).astype(int)]
    border = np.concatenate([rows[:, 0].ravel(), rows[:, -1].ravel(),
                             rows[:, 1:-1, 0].ravel(), rows[:, 1:-1, -1].ravel()])
    border = border.astype(np.float64)
    median = float(np.median(border))
    near = np.abs(border - median) <= 0.02 * (value_range[1] - value_range[0])
    return median if near.mean() >= 0.9 else None


def _check_fraction(name: str, value: float) -> None:
    if not 0 <= value < 1:
        raise InputError(f"{name} must be in [0, 1); got {value!r}.")
