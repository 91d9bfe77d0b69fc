"""Tests for the augmentation preview (API and CLI)."""

import numpy as np
import pytest
from PIL import Image

from fewlabels import cli
from fewlabels.errors import FewLabelsError
from fewlabels.views.preview import augment_preview, sample_images


def test_preview_writes_a_png_grid_of_originals_and_augmented_rows(tmp_path):
    out = augment_preview("digits", tmp_path / "grid.png", policy="classic", n=4, rows=2,
                          vertical_flip=False)
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size[0] > 100 and image.size[1] > 100


def test_sample_images_reads_npz_and_folders(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 6, 6), np.uint8), y=np.arange(5))
    assert sample_images(tmp_path / "d.npz", 3).shape == (3, 6, 6, 1)
    for name in ("a", "b"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "imgs" / name / "x.png")
    assert sample_images(tmp_path / "imgs", 8).shape == (2, 96, 96, 3)
    with pytest.raises(FewLabelsError, match="not an image source"):
        sample_images(tmp_path / "missing", 2)


def test_preview_refuses_non_png_output(tmp_path):
    with pytest.raises(FewLabelsError, match="is a PNG file"):
        augment_preview("digits", tmp_path / "grid.jpg")


def test_cli_augment_preview(tmp_path, capsys):
    out = tmp_path / "g.png"
    assert cli.main(["augment-preview", "digits", "--policy", "weak", "--n", "3",
                     "--rows", "1", "--out", str(out)]) == 0
    assert out.is_file() and "Wrote" in capsys.readouterr().out


def test_the_strong_preview_fills_cutout_with_the_background_as_training_does(tmp_path,
                                                                              monkeypatch):
    from fewlabels.views import augment

    images = np.zeros((8, 16, 16, 1), np.uint8)  # a plain black background
    images[:, 5:11, 5:11] = 200
    np.savez(tmp_path / "d.npz", x=images, y=np.arange(8) % 2)
    built = {}
    real = augment.build_policy

    def spy(name, **params):
        built.update(params)
        return real(name, **params)

    monkeypatch.setattr(augment, "build_policy", spy)
    augment_preview(tmp_path / "d.npz", tmp_path / "grid.png", policy="strong", n=4, rows=1)
    assert built["background"] == 0.0  # not Cutout's mid-grey
