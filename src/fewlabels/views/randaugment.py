"""FixMatch's strong view: RandAugment drawn per image, then Cutout, in one Keras layer.

`keras.layers.RandAugment` draws its operations once per *batch* (every image of a batch gets
the same two operations), applies each of its 11 operations to the whole batch for every
slot and keeps one by `where` (22 full-batch transforms per call), and its default
`factor=0.5` means rotations up to 180 degrees and translations up to half the image. As
FixMatch's strong view that is slow, little varied and far stronger than the paper's.

`RandAugment` here follows FixMatch's RandAugment (Sohn et al. 2020, appendix D, table 12;
the same pool as USB's `fixmatch_augment_pool`): for every image, `num_ops` operations drawn
from 14 with replacement, each with a magnitude drawn uniformly from its range (no global
magnitude), then Cutout of a square of side up to half the image, filled gray (or with
the images' plain background, `fill_value`, which Solarize also leaves as it is):

| operation | range |
|---|---|
| Identity, AutoContrast, Equalize | none |
| Brightness, Color, Contrast, Sharpness | blend factor in [0.05, 0.95] |
| Posterize | 4 to 8 bits |
| Solarize | threshold in [0, 1] of the range |
| Rotate | -30 to 30 degrees |
| ShearX, ShearY | -0.3 to 0.3 |
| TranslateX, TranslateY | -0.3 to 0.3 of the side |

The geometric operations an image draws are composed into one affine map about the image
center and resampled once (bilinear; gray fill as FixMatch, or `fill_value`); the pixel
operations run first. Every operation is a few element-wise `keras.ops` over the batch, so
the whole view is cheap next to a training step (docs/images.md). Color is the identity
on gray images. It is a `fewlabels.views.base.DataView`: inside `tf.data` it computes with
TensorFlow whichever backend trains the model.

Example:
```python
from fewlabels.views.randaugment import RandAugment
strong = RandAugment(num_ops=2, cutout=0.5, seed=0)
views = strong(images, training=True)          # float images in 0..255, (B, H, W, C)
```
"""

from __future__ import annotations

import math

import keras

from fewlabels.errors import InputError
from fewlabels.views.base import BackendOps, DataView

OPERATIONS = ("identity", "autocontrast", "equalize", "brightness", "color", "contrast",
              "sharpness", "posterize", "solarize", "rotate", "shear_x", "shear_y",
              "translate_x", "translate_y")
GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
MAX_ROTATION = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATE = 0.3


@keras.saving.register_keras_serializable(package="fewlabels")
class RandAugment(DataView):
    """FixMatch's RandAugment with per-image operations and magnitudes, then Cutout.

    Args:
        num_ops: operations per image (FixMatch: 2).
        cutout: the largest Cutout side as a fraction of the image side (FixMatch: 0.5; 0 for
            none).
        value_range: the range of pixel values, `(low, high)`.
        fill_value: the value of pixels that geometric operations bring in from outside the
            image (default: gray, the middle of `value_range`, as FixMatch; the estimators
            pass a plain background, see `fewlabels.views.augment.plain_background`).
        seed: the seed of the draws.

    Returns (when called with `training=True`):
        Augmented images, same shape, float32 in `value_range`. With `training=False` the
        images pass unchanged.
    """

    def __init__(self, num_ops: int = 2, cutout: float = 0.5,
                 value_range: tuple[float, float] = (0.0, 255.0),
                 fill_value: float | None = None, seed: int | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(num_ops, int) or num_ops < 0:
            raise InputError(f"num_ops must be an integer >= 0; got {num_ops!r}.")
        if not 0.0 <= cutout <= 1.0:
            raise InputError(f"cutout must be in [0, 1]; got {cutout!r}.")
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise InputError(f"value_range must be (low, high) with low < high; got "
                                 f"{value_range!r}.")
        if fill_value is not None and not low <= fill_value <= high:
            raise InputError(f"fill_value must be inside value_range {value_range!r}; got "
                                 f"{fill_value!r}.")
        self.fill_value = None if fill_value is None else float(fill_value)
        self.num_ops = num_ops
        self.cutout = float(cutout)
        self.value_range = (low, high)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        ops, seed = self.ops, self.seed_generator()
        low, high = self.value_range
        x = (ops.cast(images, "float32") - low) / (high - low)  # 0..1 from here on
        height, width, channels = (int(d) for d in x.shape[1:])
        batch = ops.shape(x)[0]
        draws = ops.random.randint((self.num_ops, batch), 0, len(OPERATIONS), seed=seed)
        magnitudes = ops.random.uniform((self.num_ops, batch), seed=seed)
        signs = ops.sign(ops.random.uniform((self.num_ops, batch), seed=seed) - 0.5)
        geometry = {name: ops.zeros((batch,)) for name in GEOMETRIC}
        for slot in range(self.num_ops):
            chosen = {name: ops.equal(draws[slot], i) for i, name in enumerate(OPERATIONS)}
            m, s = magnitudes[slot], signs[slot]
            x = _pixel_ops(ops, x, chosen, m, channels, self._background())
            for name, limit in (("rotate", math.radians(MAX_ROTATION)), ("shear_x", MAX_SHEAR),
                                ("shear_y", MAX_SHEAR), ("translate_x", MAX_TRANSLATE),
                                ("translate_y", MAX_TRANSLATE)):
                geometry[name] = geometry[name] + ops.where(chosen[name], s * m * limit, 0.0)
        background = self._background()
        fill = 0.5 if background is None else background
        x = _affine(ops, x, geometry, height, width, fill)
        if self.cutout > 0:
            x = _cutout(ops, x, self.cutout, height, width, seed, fill=fill)
        return x * (high - low) + low

    def _background(self) -> float | None:
        """The plain background in 0..1, or None."""
        if self.fill_value is None:
            return None
        low, high = self.value_range
        return (self.fill_value - low) / (high - low)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "num_ops": self.num_ops, "cutout": self.cutout,
                "value_range": list(self.value_range), "fill_value": self.fill_value,
                "seed": self.seed}


def _per_image(flag):
    """A `(B,)` boolean as `(B, 1, 1, 1)`, to select whole images."""
    return flag[:, None, None, None]


def _blend(ops, degenerate, x, factor):
    """PIL's `ImageEnhance`: `degenerate + factor * (x - degenerate)`, clipped."""
    return ops.clip(degenerate + factor[:, None, None, None] * (x - degenerate), 0.0, 1.0)


def _pixel_ops(ops: BackendOps, x, chosen, m, channels, background=None):
    """Apply, to each image, the pixel operation it drew in this slot (if any). On a plain
    `background` (0..1), Solarize leaves the background's pixels (within 2%) as they are:
    inverting it would swap figure and ground."""
    factor = 0.05 + 0.9 * m  # Brightness, Color, Contrast, Sharpness: [0.05, 0.95]
    gray = ops.mean(x, axis=-1, keepdims=True)
    low = ops.min(x, axis=(1, 2), keepdims=True)
    high = ops.max(x, axis=(1, 2), keepdims=True)
    auto = ops.where(high > low, (x - low) / ops.maximum(high - low, 1e-6), x)
    bits = ops.floor(4.0 + 5.0 * m - 1e-6)  # 4..8
    levels = ops.power(2.0, bits)[:, None, None, None]
    posterized = ops.floor(x * 255.0 * levels / 256.0) * 256.0 / levels / 255.0
    solarize = x * 255.0 >= 256.0 * m[:, None, None, None]
    if background is not None:
        solarize = solarize & (ops.abs(x - background) > 0.02)
    solarized = ops.where(solarize, 1.0 - x, x)
    mean = ops.mean(gray, axis=(1, 2, 3), keepdims=True)
    candidates = {
        "autocontrast": auto,
        "equalize": _equalize(ops, x),
        "brightness": _blend(ops, ops.zeros_like(x), x, factor),
        "color": _blend(ops, ops.broadcast_to(gray, ops.shape(x)), x, factor) if channels > 1
        else x,
        "contrast": _blend(ops, ops.broadcast_to(mean, ops.shape(x)), x, factor),
        "sharpness": _blend(ops, _smooth(ops, x), x, factor),
        "posterize": posterized,
        "solarize": solarized,
    }
    for name, result in candidates.items():
        x = ops.where(_per_image(chosen[name]), result, x)
    return x


def _smooth(ops, x):
    """PIL's SMOOTH filter (3x3, center 5, others 1, /13); borders keep their pixels."""
    height, width = int(x.shape[1]), int(x.shape[2])
    padded = ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    total = 4.0 * x
    for dy in range(3):
        for dx in range(3):
            total = total + padded[:, dy:dy + height, dx:dx + width, :]
    rows = ops.arange(height)[:, None]
    cols = ops.arange(width)[None, :]
    inner = (rows > 0) & (rows < height - 1) & (cols > 0) & (cols < width - 1)
    return ops.where(inner[None, :, :, None], total / 13.0, x)


def _equalize(ops, x):
    """Histogram equalization per image and channel, exactly PIL's `ImageOps.equalize`.

    On 256 levels: `step = (n - count of the brightest level present) // 256`, and level
    `i` maps to `(step // 2 + pixels below i) // step`; a flat channel (`step == 0`) stays.
    """
    batch = ops.shape(x)[0]
    height, width, channels = (int(d) for d in x.shape[1:])
    levels = ops.cast(ops.clip(ops.round(x * 255.0), 0, 255), "int32")
    flat = ops.reshape(ops.transpose(levels, (0, 3, 1, 2)), (-1, height * width))
    histogram = ops.cast(ops.bincount(flat, minlength=256), "float32")  # (B*C, 256)
    below = ops.cumsum(histogram, axis=-1) - histogram
    brightest = ops.max(ops.where(histogram > 0, ops.arange(256)[None, :], 0), axis=-1)
    top_count = ops.take_along_axis(histogram, brightest[:, None], axis=-1)
    step = ops.floor((float(height * width) - top_count) / 256.0)
    lut = ops.floor((ops.floor(step / 2.0) + below) / ops.maximum(step, 1.0))
    lut = ops.where(step > 0, ops.clip(lut, 0.0, 255.0), ops.arange(256, dtype="float32"))
    mapped = ops.take_along_axis(lut, flat, axis=-1) / 255.0
    return ops.transpose(ops.reshape(mapped, (batch, channels, height, width)), (0, 2, 3, 1))


def _affine(ops, x, geometry, height, width, fill=0.5):
    """Resample every image once by its composed rotation, shear and translation."""
    theta = geometry["rotate"]
    cos, sin = ops.cos(theta), ops.sin(theta)
    shx, shy = geometry["shear_x"], geometry["shear_y"]
    # output -> input map about the center: R(theta) @ [[1, shx], [shy, 1]], then a shift
    a, b = cos - sin * shy, cos * shx - sin
    c, d = sin + cos * shy, sin * shx + cos
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    tx, ty = geometry["translate_x"] * width, geometry["translate_y"] * height
    zero = ops.zeros_like(theta)
    transform = ops.stack([a, b, cx + tx - a * cx - b * cy,
                           c, d, cy + ty - c * cx - d * cy, zero, zero], axis=1)
    moved = ops.image.affine_transform(x, transform, interpolation="bilinear",
                                       fill_mode="constant", fill_value=fill)
    still = ops.all(ops.equal(transform, ops.convert_to_tensor(
        [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])[None, :]), axis=1)
    return ops.where(_per_image(still), x, moved)


def _cutout(ops, x, largest, height, width, seed, *, fill=0.5):
    """Fill a square of side up to `largest` of the image side, at a random center, with
    `fill` (gray, or the plain background)."""
    batch = ops.shape(x)[0]
    draws = ops.random.uniform((3, batch), seed=seed)
    side = draws[0] * largest * min(height, width)
    cy, cx = draws[1] * height, draws[2] * width
    rows = ops.arange(height, dtype="float32")[None, :, None]
    cols = ops.arange(width, dtype="float32")[None, None, :]
    inside = ((ops.abs(rows + 0.5 - cy[:, None, None]) <= side[:, None, None] / 2)
              & (ops.abs(cols + 0.5 - cx[:, None, None]) <= side[:, None, None] / 2))
    return ops.where(inside[:, :, :, None], fill, x)
