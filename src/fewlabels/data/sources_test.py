"""Tests for the one door to training data: tables vs images, and reading images of any kind."""

import numpy as np
import pytest
from PIL import Image

from fewlabels.data.sources import (
    convert_channels,
    is_image_source,
    labels_by_name,
    load_images,
)
from fewlabels.errors import FewLabelsError


def save(path, value, size=(10, 6)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "pets"
    save(root / "cat" / "a.png", 10)
    save(root / "cat" / "b.png", 20)
    save(root / "dog" / "c.png", 200)
    save(root / "unlabeled" / "d.png", 100)
    return root


def test_is_image_source_tells_tables_from_images(folder, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("1,2,0\n")
    assert is_image_source(folder) and is_image_source(tmp_path / "x.npz")
    assert is_image_source("fashion_mnist") and is_image_source("digits")
    assert not is_image_source(table)
    (tmp_path / "digits").write_text("1 2 0\n")  # an existing file wins over the built-in
    assert not is_image_source(tmp_path / "digits")


def test_a_folder_is_decoded_resized_and_named_in_order(folder):
    data = load_images(folder, image_size=8, channels=1)
    assert data.x.shape == (4, 8, 8, 1) and data.x.dtype == np.uint8
    assert data.classes == ["cat", "dog"]
    np.testing.assert_array_equal(data.y, [0, 0, 1, -1])
    assert [n.rsplit("/", 1)[-1] for n in data.names] == ["a.png", "b.png", "c.png", "d.png"]
    np.testing.assert_array_equal(data.x[:, 0, 0, 0], [10, 20, 200, 100])
    assert data.fingerprint == load_images(folder, image_size=8, channels=1).fingerprint
    save(folder / "dog" / "e.png", 50)
    assert data.fingerprint != load_images(folder, image_size=8).fingerprint


def test_npz_channels_are_converted_and_sizes_checked(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.full((3, 5, 5), 7, np.uint8), y=np.array([0, 1, -1]))
    data = load_images(path, channels=3)
    assert data.x.shape == (3, 5, 5, 3) and data.classes is None and data.x_test is None
    with pytest.raises(FewLabelsError, match=r"images are 5x5, not 8x8"):
        load_images(path, image_size=8)
    with pytest.raises(FewLabelsError, match="channels must be 1 or 3"):
        load_images(path, channels=2)
    for bad in (4, 100_000):
        with pytest.raises(FewLabelsError, match=f"image_size must be an integer from 8 to "
                                                 f"2048; got {bad}"):
            load_images(path, image_size=bad)
    with pytest.raises(FewLabelsError, match="not an image source"):
        load_images(tmp_path / "missing.csv")


def test_builtin_digits_come_with_their_test_split():
    data = load_images("digits")
    assert data.x.shape[1:] == (8, 8, 1) and data.x_test is not None
    assert len(data.x) + len(data.x_test) == 1797


def test_convert_channels_gray_rgb_and_alpha():
    rgb = np.zeros((1, 2, 2, 3), np.uint8)
    rgb[..., 0] = 255
    assert convert_channels(rgb, 1)[0, 0, 0, 0] == 76  # 0.299 * 255
    assert convert_channels(rgb[..., :1], 3).shape == (1, 2, 2, 3)
    rgba = np.zeros((1, 2, 2, 4), np.uint8)
    assert convert_channels(rgba, 3).shape == (1, 2, 2, 3)


def test_labels_are_mapped_onto_the_models_classes_by_name():
    y = np.array([0, 1, -1])
    np.testing.assert_array_equal(labels_by_name(y, ["dog", "cat"], ["cat", "dog"], "t"),
                                  [1, 0, -1])
    with pytest.raises(FewLabelsError, match=r"t: class\(es\) \['bird'\] are not among"):
        labels_by_name(y, ["bird", "cat"], ["cat", "dog"], "t")
    with pytest.raises(FewLabelsError, match="label 5 is beyond the model's 2 classes"):
        labels_by_name(np.array([5]), None, ["cat", "dog"], "t")
