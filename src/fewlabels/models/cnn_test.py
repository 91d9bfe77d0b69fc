"""Tests for the from-scratch image backbones."""

import numpy as np
import pytest

from fewlabels.errors import FewLabelsError
from fewlabels.models.cnn import build_cnn, build_wrn


def test_cnn_maps_gray_images_to_probabilities():
    model = build_cnn((28, 28, 1), 10)
    out = model(np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32") * 255)
    assert out.shape == (2, 10)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)


def test_cnn_handles_tiny_images_such_as_8x8_digits():
    assert build_cnn((8, 8, 1), 10).output_shape == (None, 10)


def test_wrn_28_2_has_the_published_size():
    model = build_wrn((32, 32, 3), 10)
    # WRN-28-2 with a 10-class head has about 1.47M parameters (Oliver et al., 2018).
    assert 1.45e6 < model.count_params() < 1.49e6
    assert model.name == "wrn-28-2"
    assert model.output_shape == (None, 10)


def test_wrn_runs_on_small_gray_images():
    model = build_wrn((28, 28, 1), 10, depth=10, widen=1)
    out = model(np.zeros((1, 28, 28, 1), dtype="float32"))
    assert out.shape == (1, 10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: build_wrn((32, 32, 3), 10, depth=27), "6n \\+ 4"),
        (lambda: build_cnn((28, 28), 10), "input_shape must be"),
        (lambda: build_cnn((28, 28, 1), 1), "n_classes must be at least 2"),
    ],
)
def test_bad_backbone_arguments_are_named(call, message):
    with pytest.raises(FewLabelsError, match=message):
        call()
