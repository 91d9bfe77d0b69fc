"""Tests for transfer learning: preprocessing, weights, safe saving, frozen BatchNorm."""

import importlib
import urllib.request

import keras
import numpy as np
import pytest

from fewlabels import training
from fewlabels.errors import FewLabelsError
from fewlabels.models.transfer import (
    BACKBONE_LAYER,
    build_backbone,
    build_transfer_model,
    preprocessing_layers,
    preprocessing_mode,
    save_backbone_weights,
    unfreeze_top,
)

NAMED_IN_THE_ISSUE = ["VGG16", "ResNet50", "ResNet50V2", "InceptionV3", "MobileNetV2",
                      "MobileNetV3Small", "MobileNetV3Large", "EfficientNetV2B0", "ConvNeXtTiny"]


@pytest.mark.parametrize("name", NAMED_IN_THE_ISSUE)
def test_safe_preprocessing_equals_the_backbones_own_preprocess_input(name):
    x = np.random.default_rng(1).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    h = x
    for layer in preprocessing_layers(preprocessing_mode(name)):
        h = layer(h)
    module = importlib.import_module(getattr(keras.applications, name).__module__)
    expected = np.asarray(module.preprocess_input(x.copy()))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(h), expected, atol=1e-4)


@pytest.fixture(scope="module")
def gray_model():
    return build_transfer_model("MobileNetV2", (28, 28, 1), 5, weights=None)


def test_gray_28x28_images_work_and_the_head_is_as_specified(gray_model):
    out = gray_model(np.zeros((2, 28, 28, 1), "float32"))
    assert out.shape == (2, 5)
    names = [layer.name for layer in gray_model.layers]
    assert names[-4:] == ["pool", "head_dense", "head_dropout", "probabilities"]
    assert gray_model.get_layer("head_dense").units == 256
    assert not gray_model.get_layer(BACKBONE_LAYER).trainable


def test_the_model_saves_and_loads_under_safe_mode(gray_model, tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (3, 28, 28, 1)).astype("float32")
    training.save_model(gray_model, tmp_path / "m.keras")
    loaded = training.load_model(tmp_path / "m.keras")  # safe_mode=True: no Lambda inside
    np.testing.assert_allclose(training.predict_proba(loaded, x),
                               training.predict_proba(gray_model, x), rtol=1e-5, atol=1e-6)


def test_weights_from_a_path_are_loaded_exactly(tmp_path):
    source = build_backbone("MobileNetV2", 32)
    rng = np.random.default_rng(0)
    source.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in source.get_weights()])
    path = tmp_path / "mobilenet.weights.h5"
    source.save_weights(path)
    model = build_transfer_model("MobileNetV2", (32, 32, 3), 3, weights=path)
    for got, want in zip(model.get_layer(BACKBONE_LAYER).get_weights(), source.get_weights(),
                         strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(FewLabelsError, match="no such weights file"):
        build_transfer_model("MobileNetV2", (32, 32, 3), 3, weights=tmp_path / "missing.h5")
    with pytest.raises(FewLabelsError, match="these are not weights for VGG16"):
        build_transfer_model("VGG16", (32, 32, 3), 3, weights=path)


def test_imagenet_weights_offline_fail_at_once_saying_where_to_put_the_file(
        tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlretrieve", no_network)
    with pytest.raises(FewLabelsError, match=r"not in Keras's cache.*mobilenet_v2_weights\S*"
                                             r"no_top\.h5 into ~/\.keras/models/.*weights=PATH"):
        build_transfer_model("MobileNetV2", (32, 32, 3), 3, weights="imagenet")


def test_frozen_backbone_batchnorm_statistics_do_not_move_in_either_phase():
    model = build_transfer_model("MobileNetV2", (32, 32, 3), 2, weights=None)
    base = model.get_layer(BACKBONE_LAYER)
    bn = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    before = [keras.ops.convert_to_numpy(layer.moving_mean) for layer in bn]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    t = np.eye(2, dtype="float32")[rng.integers(0, 2, 16)]
    common = dict(learning_rate=1e-2, batch_size=8, epochs=2, patience=2)
    training.train_stage(model, x, t, **common)  # phase 1: head only
    assert unfreeze_top(model, 10) > 0
    convs = [layer for layer in base.layers if layer.trainable and layer.weights]
    conv_before = [keras.ops.convert_to_numpy(layer.weights[0]) for layer in convs]
    training.train_stage(model, x, t, **{**common, "learning_rate": 1e-3})  # phase 2
    for layer, mean in zip(bn, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_mean), mean)
    assert all(not layer.trainable for layer in bn)
    assert any(not np.array_equal(keras.ops.convert_to_numpy(layer.weights[0]), w)
               for layer, w in zip(convs, conv_before, strict=True))


def test_unknown_backbones_and_bad_shapes_are_named():
    with pytest.raises(FewLabelsError, match="unknown backbone 'ResNet9000'"):
        build_transfer_model("ResNet9000", (32, 32, 3), 3, weights=None)
    with pytest.raises(FewLabelsError, match="input_shape must be"):
        build_transfer_model("MobileNetV2", (32, 32, 2), 3, weights=None)


@pytest.mark.parametrize("name", ["cnn", "MobileNetV2"])
def test_a_backbone_pretrained_with_frozen_false_transfers_exactly(name, tmp_path):
    """The offline recipe: pretrain a trainable backbone, save it, build the target on it."""
    source = build_transfer_model(name, (28, 28, 1), 4, weights=None, frozen=False)
    assert source.get_layer(BACKBONE_LAYER).trainable
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 28, 28, 1)).astype("float32")
    t = np.eye(4, dtype="float32")[rng.integers(0, 4, 16)]
    if name == "cnn":  # training moves BatchNorm statistics too (slow for MobileNetV2)
        training.train_stage(source, x, t, learning_rate=1e-2, batch_size=8, epochs=1,
                             patience=1)
    path = save_backbone_weights(source, tmp_path / f"{name}.weights.h5")
    target = build_transfer_model(name, (28, 28, 1), 3, weights=path)
    for got, want in zip(target.get_layer(BACKBONE_LAYER).get_weights(),
                         source.get_layer(BACKBONE_LAYER).get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert not target.get_layer(BACKBONE_LAYER).trainable


def test_own_backbones_keep_gray_images_gray_and_have_no_imagenet_weights(tmp_path):
    model = build_transfer_model("cnn", (8, 8, 1), 3, weights=None)
    assert model.get_layer(BACKBONE_LAYER).input_shape == (None, 8, 8, 1)
    assert "gray_to_rgb" not in [layer.name for layer in model.layers]
    with pytest.raises(FewLabelsError, match="no ImageNet weights for fewlabels' own 'wrn'"):
        build_transfer_model("wrn", (8, 8, 1), 3, weights="imagenet")
    with pytest.raises(FewLabelsError, match=r"must end in \.weights\.h5"):
        save_backbone_weights(model, tmp_path / "x.h5")


def test_unfreeze_counts_layers_with_weights_other_than_batchnorm():
    model = build_transfer_model("cnn", (8, 8, 1), 3, weights=None)
    assert unfreeze_top(model, 2) == 2
    base = model.get_layer(BACKBONE_LAYER)
    trainable = [layer.name for layer in base.layers if layer.trainable and layer.weights]
    assert trainable == ["stage3_conv1", "stage3_conv2"]
