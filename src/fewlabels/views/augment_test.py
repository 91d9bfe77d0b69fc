"""Tests for the augmentation policies."""

import math

import keras
import numpy as np
import pytest

from fewlabels.errors import FewLabelsError
from fewlabels.views.augment import POLICIES, build_policy, plain_background

IMAGES = (np.random.default_rng(0).random((4, 16, 16, 1)) * 255).astype(np.float32)


def run(policy, x=IMAGES):
    return keras.ops.convert_to_numpy(policy(x, training=True))


@pytest.mark.parametrize("name", POLICIES)
def test_every_policy_keeps_shape_and_value_range(name):
    for x in (IMAGES, np.repeat(IMAGES, 3, axis=-1)):
        out = run(build_policy(name, seed=1), x)
        assert out.shape == x.shape
        assert out.min() >= -1e-3 and out.max() <= 255 + 1e-3


def test_none_is_the_identity_and_the_others_change_images():
    np.testing.assert_array_equal(run(build_policy("none")), IMAGES)
    for name in ("classic", "weak", "strong"):
        assert np.abs(run(build_policy(name, seed=1)) - IMAGES).mean() > 1.0, name


def test_same_seed_same_stream_and_successive_calls_differ():
    a, b = build_policy("classic", seed=3), build_policy("classic", seed=3)
    first_a, first_b = run(a), run(b)
    np.testing.assert_array_equal(first_a, first_b)
    assert not np.array_equal(run(a), first_a)  # the next epoch gets new transforms


def test_classic_matches_the_image_data_generator_recipe():
    layers = {type(layer).__name__: layer for layer in build_policy("classic").layers}
    assert math.isclose(layers["RandomRotation"].factor[1], 10 / 360)
    assert layers["RandomTranslation"].height_factor == 0.1
    assert layers["RandomTranslation"].width_factor == 0.1
    assert math.isclose(layers["RandomShear"].x_factor[1], math.tan(math.radians(0.2)))
    assert layers["RandomZoom"].height_factor == 0.2 and layers["RandomZoom"].width_factor == 0.2
    assert layers["RandomFlip"].mode == "horizontal"  # upside-down only when asked
    assert all(layer.fill_mode == "nearest" for layer in layers.values()
               if hasattr(layer, "fill_mode"))


def test_classic_flips_can_be_turned_off():
    names = [type(layer).__name__ for layer in build_policy(
        "classic", horizontal_flip=False, vertical_flip=False).layers]
    assert "RandomFlip" not in names
    both = build_policy("classic", vertical_flip=True).layers[-1]
    assert both.mode == "horizontal_and_vertical"
    weak = [type(layer).__name__ for layer in build_policy("weak", horizontal_flip=False).layers]
    assert weak == ["RandomTranslation"]  # the weak view flips only where the data allows


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "heavy"}, "unknown augmentation policy 'heavy'"),
        ({"name": "classic", "zoom": 1.5}, r"zoom must be in \[0, 1\)"),
        ({"name": "classic", "rotation": 400}, r"rotation must be in \[0, 180\]"),
        ({"name": "classic", "fill_mode": "mirror"}, "fill_mode must be"),
    ],
)
def test_bad_policy_parameters_are_named(kwargs, message):
    with pytest.raises(FewLabelsError, match=message):
        build_policy(**kwargs)


def test_the_classic_stack_keeps_object_size_and_intensity_on_average():
    # Each layer resamples, but the geometry must not drift: rotation keeps areas and the
    # zoom is symmetric, so the foreground area and mean intensity stay about the same.
    rng = np.random.default_rng(0)
    x = np.zeros((200, 28, 28, 1), np.float32)
    for i in range(len(x)):
        top, left = rng.integers(6, 10, 2)
        x[i, top:top + 12, left:left + 12] = 200.0
    out = run(build_policy("classic", fill_mode="constant", seed=0), x)
    area_ratio = np.mean(out > 100) / np.mean(x > 100)
    assert 0.85 < area_ratio < 1.2, area_ratio
    assert 0.85 < out.mean() / x.mean() < 1.15


def test_a_plain_background_is_found_and_photographs_have_none():
    rng = np.random.default_rng(0)
    objects = np.zeros((50, 16, 16, 1), np.float32)
    objects[:, 3:13, 3:13] = rng.uniform(50, 255, (50, 10, 10, 1))
    objects[0, 0, :4] = 255.0  # a few stray border pixels are tolerated
    assert plain_background(objects) == 0.0
    assert plain_background(objects + 200.0) == 200.0
    photos = rng.uniform(0, 255, (50, 16, 16, 3)).astype(np.float32)
    assert plain_background(photos) is None
    assert plain_background(objects[:, :2, :2]) is None  # too small to have a border


def test_with_a_background_weak_and_strong_fill_with_it_instead_of_reflecting_or_gray():
    objects = np.zeros((64, 16, 16, 1), np.float32)
    objects[:, 4:12, 4:12] = 255.0
    weak = build_policy("weak", seed=0, background=0.0)
    translation = weak.layers[1]
    assert (translation.fill_mode, translation.fill_value) == ("constant", 0.0)
    assert build_policy("weak", seed=0).layers[1].fill_mode == "reflect"
    # The object may move but no mirrored copy of it appears: as much white as before.
    moved = run(weak, objects)
    assert abs((moved > 127).sum() - (objects > 127).sum()) <= 0.15 * (objects > 127).sum()
    assert build_policy("strong", background=0.0).layers[0].fill_value == 0.0
    assert build_policy("strong").layers[0].fill_value is None  # gray, as FixMatch


def test_the_weak_view_moves_whole_pixels_with_no_blur():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 16, 16, 1)).astype(np.float32)
    moved = run(build_policy("weak", seed=0, background=0.0, horizontal_flip=False), images)
    for before, after in zip(images, moved, strict=True):
        # every pixel is one of the image's own pixels or the fill: nothing interpolated
        assert set(np.unique(after)) <= set(np.unique(before)) | {0.0}
    assert not np.array_equal(moved, images)
