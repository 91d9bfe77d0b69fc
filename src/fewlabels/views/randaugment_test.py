"""Tests for FixMatch's per-image RandAugment: each operation against PIL, per-image draws."""

import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image, ImageFilter, ImageOps

from fewlabels.errors import FewLabelsError
from fewlabels.views import randaugment as ra

B = ra.RandAugment().ops  # the configured backend's ops, as RandAugment.call passes them
RNG = np.random.default_rng(0)
LEVELS = RNG.integers(0, 256, (3, 12, 10, 1)).astype(np.uint8)  # integer gray images


def unit(levels):
    return ops.convert_to_tensor(levels.astype(np.float32) / 255.0)


def as_levels(x):
    return np.round(ops.convert_to_numpy(x) * 255.0)


def pil(levels, fn):
    return np.stack([np.asarray(fn(Image.fromarray(im[:, :, 0])))[:, :, None]
                     for im in levels]).astype(np.float32)


def test_equalize_is_pil_equalize_exactly():
    skewed = (LEVELS.astype(float) ** 2 / 255).astype(np.uint8)  # a non-flat histogram
    flat = np.full((1, 12, 10, 1), 77, np.uint8)
    for images in (LEVELS, skewed, flat):
        np.testing.assert_array_equal(as_levels(ra._equalize(B, unit(images))),
                                      pil(images, ImageOps.equalize))


def test_smooth_is_pil_smooth_within_rounding():
    got = as_levels(ra._smooth(B, unit(LEVELS)))
    want = pil(LEVELS, lambda im: im.filter(ImageFilter.SMOOTH))
    assert np.abs(got - want).max() <= 1


@pytest.mark.parametrize("name", ["posterize", "solarize", "autocontrast"])
def test_pixel_operations_match_pil(name):
    m = np.array([0.3, 0.6, 0.95], np.float32)  # per-image magnitudes
    chosen = {op: ops.convert_to_tensor(np.full(3, op == name)) for op in ra.OPERATIONS}
    got = as_levels(ra._pixel_ops(B, unit(LEVELS), chosen, ops.convert_to_tensor(m), 1))
    for i in range(3):
        image = LEVELS[i:i + 1]
        if name == "posterize":
            want = pil(image, lambda im, b=int(4 + 5 * m[i] - 1e-6): ImageOps.posterize(im, b))
        elif name == "solarize":
            want = pil(image, lambda im, t=256 * m[i]: ImageOps.solarize(im, t))
        else:
            want = pil(image, ImageOps.autocontrast)
        assert np.abs(got[i] - want[0]).max() <= 1, (name, i)


def test_no_operation_chosen_leaves_pixels_alone():
    chosen = {op: ops.convert_to_tensor(np.zeros(3, bool)) for op in ra.OPERATIONS}
    x = unit(LEVELS)
    np.testing.assert_array_equal(ops.convert_to_numpy(ra._pixel_ops(B, x, chosen, x[:, 0, 0, 0],
                                                                      1)),
                                  ops.convert_to_numpy(x))


def test_affine_is_the_identity_without_geometry_and_shifts_by_whole_pixels():
    x = unit(LEVELS)
    zero = {name: ops.zeros((3,)) for name in ra.GEOMETRIC}
    np.testing.assert_array_equal(ops.convert_to_numpy(ra._affine(B, x, zero, 12, 10)),
                                  ops.convert_to_numpy(x))
    shift = {**zero, "translate_x": ops.convert_to_tensor(np.full(3, 0.2, np.float32))}
    moved = ops.convert_to_numpy(ra._affine(B, x, shift, 12, 10))  # 0.2 * 10 = 2 pixels
    np.testing.assert_allclose(moved[:, :, :8], ops.convert_to_numpy(x)[:, :, 2:], atol=1e-6)
    np.testing.assert_allclose(moved[:, :, 8:], 0.5)  # FixMatch's gray fill
    black = ops.convert_to_numpy(ra._affine(B, x, shift, 12, 10, fill=0.0))
    np.testing.assert_allclose(black[:, :, 8:], 0.0)  # a plain background's value


def test_cutout_fills_one_gray_square_of_at_most_half_the_side():
    x = ops.zeros((200, 16, 16, 1))
    out = ops.convert_to_numpy(ra._cutout(B, x, 0.5, 16, 16, keras.random.SeedGenerator(0)))
    assert set(np.unique(out)) <= {0.0, 0.5}
    sides = np.sqrt((out == 0.5).sum(axis=(1, 2, 3)))
    assert sides.max() <= 8 + 1 and 2 < sides.mean() < 6


def test_operations_are_drawn_per_image_not_per_batch():
    # Keras's RandAugment gives every image of a batch the same two operations; here 64
    # copies of one image come out (almost) all different, with every pixel in range.
    image = LEVELS[:1].astype(np.float32)
    batch = np.repeat(image, 64, axis=0)
    out = keras.ops.convert_to_numpy(ra.RandAugment(seed=0)(batch, training=True))
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 255
    assert len({o.tobytes() for o in out}) >= 60
    untouched = ra.RandAugment(num_ops=0, cutout=0.0, seed=0)(batch, training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(untouched), batch, atol=1e-3)


def test_the_same_seed_gives_the_same_views_and_config_round_trips():
    batch = LEVELS.astype(np.float32)
    a = ra.RandAugment(seed=3)(batch, training=True)
    b = ra.RandAugment(seed=3)(batch, training=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    layer = ra.RandAugment(num_ops=3, cutout=0.25, value_range=(0, 1), fill_value=0, seed=5)
    again = ra.RandAugment.from_config(layer.get_config())
    assert (again.num_ops, again.cutout, again.value_range, again.fill_value, again.seed) == (
        3, 0.25, (0, 1), 0.0, 5)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(ra.RandAugment()(batch, training=False)), batch)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_ops": -1}, "num_ops must be an integer >= 0; got -1"),
    ({"cutout": 1.5}, r"cutout must be in \[0, 1\]; got 1.5"),
    ({"value_range": (1, 1)}, r"value_range must be \(low, high\) with low < high"),
    ({"fill_value": 300}, r"fill_value must be inside value_range \(0.0, 255.0\); got 300"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(FewLabelsError, match=message):
        ra.RandAugment(**kwargs)


def test_on_a_plain_background_cutout_fills_with_it_and_solarize_leaves_it():
    x = ops.zeros((50, 16, 16, 1))
    out = ops.convert_to_numpy(ra._cutout(B, x + 1.0, 0.5, 16, 16,
                                          keras.random.SeedGenerator(0), fill=1.0))
    np.testing.assert_array_equal(out, 1.0)  # filled with the background: nothing shows
    image = np.zeros((2, 12, 10, 1), np.float32)
    image[:, 3:9, 3:7] = 0.8  # a light object on black
    chosen = {op: ops.convert_to_tensor(np.full(2, op == "solarize")) for op in ra.OPERATIONS}
    threshold = ops.convert_to_tensor(np.zeros(2, np.float32))  # invert every pixel >= 0
    plain = ops.convert_to_numpy(ra._pixel_ops(B, unit(image * 255), chosen, threshold, 1))
    kept = ops.convert_to_numpy(ra._pixel_ops(B, unit(image * 255), chosen, threshold, 1,
                                              background=0.0))
    assert plain[0, 0, 0, 0] == 1.0  # FixMatch's Solarize turns the black background white
    assert kept[0, 0, 0, 0] == 0.0 and abs(kept[0, 4, 4, 0] - 0.2) < 0.01  # not here
