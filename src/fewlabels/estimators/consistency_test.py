"""Tests for ConsistencyTraining: images and rows, EMA, monitoring, saving, validation."""

import numpy as np
import pytest

from fewlabels import FewLabelsError, FewLabelsWarning, Network, WeightAverage
from fewlabels.data import hide_labels, load_builtin
from fewlabels.estimators import load_estimator
from fewlabels.estimators.consistency import ConsistencyTraining
from fewlabels.training.budget_test import fills

FAST = dict(steps=40, steps_per_epoch=20, batch_size=8, uratio=2)


@pytest.fixture(scope="module")
def digits():
    from fewlabels.data.images import load_image_dataset

    data = load_image_dataset("digits")
    y_partial, y_hidden = hide_labels(data.y, 4, seed=0)
    return data, y_partial, y_hidden


def test_fixmatch_on_images_logs_monitoring_and_saves(digits, tmp_path):
    data, y, hidden = digits
    model = ConsistencyTraining(method="fixmatch", algorithm_params={"threshold": 0.5},
                                **FAST).fit(data.x, y, y_hidden=hidden)
    assert model.network_ == "cnn" and model.n_steps_ == 40 and model.n_train_labeled_ == 40
    history = model.history_
    assert len(history["mask_rate"]) == 2 and 0 <= history["mask_rate"][-1] <= 1
    assert abs(sum(history[f"share_{c}"][-1] for c in range(10)) - 1) < 1e-5
    assert 0 <= history["pseudo_label_accuracy"][-1] <= 1
    assert model.ema_used() == pytest.approx(0.75)  # 1 - 10/40: a short run averages little
    assert model.predict_proba(data.x_test).shape == (len(data.x_test), 10)
    model.save(tmp_path / "run")
    loaded = load_estimator(tmp_path / "run")
    assert type(loaded) is ConsistencyTraining and loaded.method == "fixmatch"
    np.testing.assert_allclose(loaded.predict_proba(data.x_test[:8]),
                               model.predict_proba(data.x_test[:8]), atol=1e-6)


def test_the_same_seed_gives_the_same_model(digits):
    data, y, _ = digits
    a = ConsistencyTraining(method="flexmatch", **FAST).fit(data.x, y)
    b = ConsistencyTraining(method="flexmatch", **FAST).fit(data.x, y)
    np.testing.assert_array_equal(a.predict_proba(data.x_test), b.predict_proba(data.x_test))
    assert a.history_ == b.history_


def test_rows_get_tabular_views_and_learn_from_few_labels():
    table = load_builtin("wine")
    x, y = table.x, table.y
    y_partial, _ = hide_labels(y, 3, seed=0)
    model = ConsistencyTraining(method="fixmatch", optimizer="adam", learning_rate=0.01,
                                steps=150, steps_per_epoch=50, batch_size=8, uratio=4)
    model.fit(x, y_partial)
    assert model.network_ == "mlp" and model.n_features_in_ == 13
    assert model.evaluate(x, y)["accuracy"] > 0.8
    with pytest.raises(FewLabelsError, match="mirrors images; this model takes feature rows"):
        model.predict_proba(x, tta=True)
    with pytest.raises(FewLabelsError, match="'strong' is an image policy; rows take"):
        ConsistencyTraining(strong="strong", **FAST).fit(x, y_partial)


def test_the_history_keeps_only_what_was_measured():
    table = load_builtin("wine")
    y_partial, _ = hide_labels(table.y, 3, seed=0)
    rows = dict(optimizer="adam", steps=40, steps_per_epoch=20, batch_size=8, uratio=2)
    fixmatch = ConsistencyTraining(method="fixmatch", **rows).fit(table.x, y_partial)
    assert "mask_rate" in fixmatch.history_ and "share_0" in fixmatch.history_
    assert "pseudo_label_accuracy" not in fixmatch.history_  # no hidden labels were given
    supervised = ConsistencyTraining(method="supervised", **rows).fit(table.x, y_partial)
    assert set(supervised.history_) == {"loss", "sup_loss"}  # no unsupervised term: no zeros


def test_constant_features_get_no_noise_and_rows_with_them_still_learn():
    from fewlabels.data import labeled_subset
    from fewlabels.views.tabular import build_tabular_view

    table = load_builtin("digits")  # its border pixels are 0 in every image
    x, y = table.x, table.y
    constant = np.std(x, axis=0) == 0
    assert constant.any()
    noisy = build_tabular_view("noise", x, seed=0)(x[:50].astype("float32"), training=True)
    np.testing.assert_array_equal(np.asarray(noisy)[:, constant], x[:50, constant])
    keep = labeled_subset(y, fraction=0.1, min_per_class=2, seed=0)
    y_partial = np.full(len(y), -1)
    y_partial[keep] = y[keep]
    model = ConsistencyTraining(method="fixmatch", optimizer="adam", learning_rate=0.003,
                                steps=200, steps_per_epoch=100).fit(x, y_partial)
    assert model.evaluate(x, y)["accuracy"] > 0.7  # chance is 0.1


def test_mask_rate_stuck_at_zero_warns(digits):
    data, y, _ = digits
    with pytest.warns(FewLabelsWarning, match="the mask rate has been 0 for 2 epochs"):
        model = ConsistencyTraining(method="fixmatch", collapse_epochs=2, **FAST,
                                    algorithm_params={"threshold": 1.0}).fit(data.x, y)
    assert any("mask rate" in m for m in model.warnings_)


def test_validation_fraction_reports_validation_every_epoch(digits):
    data, y, _ = digits
    model = ConsistencyTraining(method="softmatch", validation_fraction=0.25, **FAST)
    model.fit(data.x, y)
    assert len(model.history_["val_accuracy"]) == 2 and model.n_train_labeled_ == 30


@pytest.mark.parametrize("params, message", [
    ({"method": "fixmatch-ish"}, "unknown method 'fixmatch-ish'"),
    ({"algorithm_params": {"treshold": 0.9}},
     r"fixmatch has no hyperparameter\(s\) \['treshold'\]"),
    ({"uratio": 0}, "uratio must be"),
    ({"average": WeightAverage(warmup=-1.0)}, r"average\.warmup must be in \[0.0, inf\]; got -1.0"),
    ({"optimizer": "rmsprop"}, r"optimizer must be one of"),
])
def test_bad_parameters_are_named(digits, params, message):
    data, y, _ = digits
    with pytest.raises(FewLabelsError, match=message):
        ConsistencyTraining(**{**FAST, **params}).fit(data.x, y)


def test_bad_validation_data_is_named(digits):
    data, y, _ = digits
    with pytest.raises(FewLabelsError, match="X_val has images of shape"):
        ConsistencyTraining(**FAST).fit(data.x, y, validation_data=(np.zeros((2, 9, 9, 1)),
                                                                           [0, 1]))
    with pytest.raises(FewLabelsError, match="validation_data labels must be class indices"):
        ConsistencyTraining(**FAST).fit(data.x, y,
                                        validation_data=(data.x_test[:2], [0, 12]))


def test_mixmatch_mixes_two_weak_views_and_trains(digits):
    data, y, _ = digits
    x = data.x
    model = ConsistencyTraining(method="mixmatch", steps=20, steps_per_epoch=10, batch_size=8,
                                uratio=2, algorithm_params={"warmup_steps": 10}).fit(x, y)
    assert model.history_["mask_rate"] == [1.0, 1.0]  # MixMatch weighs every guess
    assert np.all(np.isfinite(model.history_["loss"]))
    weak, strong = model._views(True, x, "weak")
    assert [type(v).__name__ for v in strong.layers] == [type(v).__name__ for v in weak.layers]


def test_cnn_widths_set_the_compact_cnn_stages_for_both_estimators():
    from fewlabels.estimators.self_training import SelfTraining
    from fewlabels.models.chooser import build_network

    x = np.zeros((4, 28, 28, 1), np.float32)
    network = Network(cnn_widths=[8, 16])
    for estimator in (ConsistencyTraining(model=network), SelfTraining(model=network)):
        model = build_network("cnn", x, 3, estimator._spec("model"))
        filters = [layer.filters for layer in model.layers if hasattr(layer, "filters")]
        assert filters == [8, 8, 16, 16]


def test_a_mixed_precision_policy_computes_in_16_bits_with_float32_probabilities(digits):
    import keras

    data, y, hidden = digits
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = ConsistencyTraining(method="fixmatch", algorithm_params={"threshold": 0.5},
                                    **FAST).fit(data.x, y, y_hidden=hidden)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    convs = [layer for layer in model.model_.layers if "conv" in layer.name]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    out = model.model_(data.x_test[:4], training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert np.all(np.isfinite(model.history_["loss"]))
    assert model.predict_proba(data.x_test).sum(axis=1) == pytest.approx(1, abs=1e-3)


def test_uint8_images_train_without_a_float_copy_and_predict_as_float32_does():
    from fewlabels.data.images import load_image_dataset

    digits = load_image_dataset("digits")
    x = digits.x[:120]
    assert x.dtype == np.uint8
    y = np.where(np.arange(120) < 30, digits.y[:120], -1)
    model = ConsistencyTraining(method="fixmatch", steps=4, steps_per_epoch=2, batch_size=8,
                                uratio=2, cnn_widths=(4,), verbose=0)
    split = model._split_validation(x, y, None, None, True, 10)
    assert split[0] is x  # nothing held out: the pool is not copied
    model.fit(x, y)
    np.testing.assert_allclose(model.predict_proba(x[:20]),
                               model.predict_proba(x[:20].astype(np.float32)), atol=1e-6)


def test_a_wall_clock_budget_sizes_the_steps_and_a_resumed_run_keeps_them(digits, tmp_path):
    from fewlabels.training.checkpoint import CheckpointPolicy

    data, y, _ = digits
    x = data.x
    params = dict(FAST, steps_per_epoch=5, budget_s=4.0)
    model = ConsistencyTraining(**params).fit(x, y, checkpoint=CheckpointPolicy(tmp_path / "a"))
    calibration = model.calibration_
    epochs = calibration["epochs"]
    assert fills(calibration, 4.0)
    assert model.n_steps_ == model.steps_ == 5 * epochs
    assert model.ema_used() == max(0.0, min(0.999, 1 - 10 / model.steps_))
    # resumed (here: at its end), the count comes from the checkpoint, not a new timing
    resumed = ConsistencyTraining(**params).fit(
        x, y, checkpoint=CheckpointPolicy(tmp_path / "a", resume=True))
    assert resumed.calibration_ is None and resumed.n_steps_ == model.n_steps_
    assert ConsistencyTraining(**FAST).fit(x, y).calibration_ is None  # steps as given


def _determinism_seen_by_fit(model, data, y, before: bool) -> bool:
    """What a fit's training step sees of TensorFlow's op determinism, the process's
    setting being `before`; the setting is back to `before` afterwards."""
    from tensorflow.python.framework import config as tf_config

    import fewlabels.training.recorder as recorder

    seen = []
    real = recorder.fit_resumable

    def spy(*args, **kwargs):
        seen.append(tf_config.is_op_determinism_enabled())
        return real(*args, **kwargs)

    (tf_config.enable_op_determinism if before else tf_config.disable_op_determinism)()
    try:
        recorder.fit_resumable = spy
        model.fit(data.x, y)
        assert tf_config.is_op_determinism_enabled() is before
    finally:
        recorder.fit_resumable = real
        tf_config.disable_op_determinism()
    return seen == [True]


def test_op_determinism_is_a_choice_of_each_fit_and_is_restored_after_it(digits):
    data, y, _ = digits
    short = dict(FAST, steps=2, steps_per_epoch=2)
    assert _determinism_seen_by_fit(ConsistencyTraining(**short), data, y, before=False)
    assert not _determinism_seen_by_fit(
        ConsistencyTraining(deterministic=False, **short), data, y, before=True)
