"""Tests for the SelfTraining estimator: validation at the door, the loop, state and saving."""

import numpy as np
import pytest

from fewlabels import FewLabelsError, FewLabelsWarning
from fewlabels.data.builtin import load_builtin
from fewlabels.estimators.self_training import SelfTraining

FAST = dict(hidden_units=(16,), learning_rate=0.02, epochs=30, patience=5, finetune_epochs=5,
            rounds=2, seed=0)


def blobs(n_per_class=60, n_labeled=6, seed=0):
    """Three well-separated Gaussian blobs; a few labels per class, the rest hidden."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [4.0, 4.0], [0.0, 5.0]])
    x = np.concatenate([c + rng.normal(size=(n_per_class, 2)) for c in centers])
    y_true = np.repeat(np.arange(3), n_per_class)
    y = np.full(len(y_true), -1)
    for c in range(3):
        y[np.flatnonzero(y_true == c)[:n_labeled]] = c
    return x.astype(np.float32), y, y_true


@pytest.fixture(scope="module")
def fitted():
    """One self-training fit shared by the tests that only inspect its results."""
    x, y, y_true = blobs()
    y_hidden = np.where(y < 0, y_true, -1)
    model = SelfTraining(**FAST).fit(x, y, classes=["a", "b", "c"], y_hidden=y_hidden)
    return model, x, y, y_true


def test_fit_sets_sklearn_style_state_and_learns(fitted):
    model, x, y, y_true = fitted
    assert isinstance(model.classes_, np.ndarray) and model.classes_.tolist() == ["a", "b", "c"]
    assert model.transduction_.shape == y.shape
    labeled = y >= 0
    names = np.array(["a", "b", "c"])  # transduction_ holds labels, as scikit-learn's
    np.testing.assert_array_equal(model.transduction_[labeled], names[y[labeled]])
    assert np.all(model.transduction_[model.labeled_iter_ == -1] == -1)
    np.testing.assert_array_equal(model.labeled_iter_[labeled], 0)
    assert set(np.unique(model.labeled_iter_)) <= {-1, 0, 1, 2}
    assert 1 <= model.n_iter_ <= 2
    assert model.termination_condition_ in {"max_iter", "no_change", "all_labeled"}
    # Pseudo-labels are class indices, and on well-separated blobs they are mostly right.
    pseudo = model.labeled_iter_ > 0
    assert pseudo.sum() > 0
    assert np.mean(model.transduction_[pseudo] == names[y_true[pseudo]]) > 0.9
    assert model.rounds_[0]["pseudo_label_accuracy"] is not None
    assert sum(model.rounds_[0]["accepted_per_class"].values()) == model.rounds_[0]["accepted"]
    assert np.mean(model.predict(x) == np.array(["a", "b", "c"])[y_true]) > 0.9  # labels
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_same_seed_gives_identical_weights_and_pseudo_labels():
    x, y, _ = blobs()
    a = SelfTraining(**{**FAST, "rounds": 1, "finetune": False}).fit(x, y)
    b = SelfTraining(**{**FAST, "rounds": 1, "finetune": False}).fit(x, y)
    np.testing.assert_array_equal(a.transduction_, b.transduction_)
    for wa, wb in zip(a.model_.get_weights(), b.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_rounds_zero_is_supervised_training():
    x, y, _ = blobs()
    model = SelfTraining(**{**FAST, "rounds": 0}).fit(x, y)
    assert model.n_iter_ == 0
    assert np.all(model.labeled_iter_[y < 0] == -1)
    assert [s["stage"] for s in model.stages_] == ["initial"]


def test_k_best_accepts_k_rows_a_round_as_scikit_learn():
    x, y, _ = blobs()
    model = SelfTraining(**{**FAST, "criterion": "k_best", "k_best": 4, "finetune": False,
                            "class_balance": False}).fit(x, y)
    assert [record["accepted"] for record in model.rounds_] == [4, 4]


def test_soft_labels_train_on_probabilities_and_keep_hard_transduction():
    x, y, y_true = blobs()
    model = SelfTraining(**{**FAST, "soft_labels": True, "rounds": 1}).fit(x, y)
    pseudo = model.labeled_iter_ > 0
    assert pseudo.any()
    assert set(np.unique(model.transduction_[pseudo])) <= {0, 1, 2}
    assert np.mean(model.predict(x) == y_true) > 0.9


def test_pseudo_labels_piling_onto_one_class_warn_and_name_it():
    # The unlabeled pool is almost all class "a": without class balance, a round's
    # pseudo-labels are mostly "a", far above its one-third labeled share.
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [6.0, 6.0], [0.0, 7.0]])
    labeled = np.concatenate([c + rng.normal(size=(6, 2)) for c in centers])
    pool = centers[0] + rng.normal(size=(120, 2))
    x = np.concatenate([labeled, pool]).astype(np.float32)
    y = np.concatenate([np.repeat(np.arange(3), 6), np.full(120, -1)])
    params = {**FAST, "rounds": 1, "finetune": False, "class_balance": False, "threshold": 0.5}
    with pytest.warns(FewLabelsWarning, match=r"pseudo-labels collapse onto class 'a' .*"
                                              r"Consider class_balance=True"):
        SelfTraining(**params).fit(x, y, classes=["a", "b", "c"])


def test_validation_data_replaces_the_held_out_split():
    x, y, y_true = blobs()
    model = SelfTraining(**{**FAST, "rounds": 0}).fit(x, y, validation_data=(x[:30], y_true[:30]))
    assert model.n_validation_ == 30
    assert model.n_train_labeled_ == int(np.sum(y >= 0))
    with pytest.raises(FewLabelsError, match="validation_data labels must be class indices"):
        SelfTraining(**FAST).fit(x, y, validation_data=(x[:3], np.array([0, 1, 7])))


def test_finetune_keeps_a_pre_finetune_model_and_evaluates_both_stages(fitted):
    model, x, _, y_true = fitted
    assert model.pre_finetune_model_ is not None
    assert model.stages_[-1]["stage"] == "finetune"
    before = model.evaluate(x, y_true, stage="before_finetune")
    after = model.evaluate(x, y_true)
    assert 0.0 <= before["accuracy"] <= 1.0 and 0.0 <= after["accuracy"] <= 1.0
    with pytest.raises(FewLabelsError, match="stage must be"):
        model.evaluate(x, y_true, stage="middle")


def test_no_unlabeled_rows_warns_and_trains_supervised():
    x, _, y_true = blobs(n_per_class=10)
    with pytest.warns(FewLabelsWarning, match="y contains no unlabeled samples"):
        model = SelfTraining(**FAST).fit(x, y_true)
    assert model.termination_condition_ == "all_labeled"
    assert model.n_iter_ == 0


@pytest.mark.parametrize(
    ("y", "message"),
    [
        ([-1, -1, -1, -1], "all 4 rows are unlabeled.*two or more classes"),
        ([0, 0, -1, -1], r"only one class \(0\) has labeled rows.*at least two classes"),
        ([0, 1, -1], "X has 4 rows but y has 3 labels"),
        ([0.5, 1, -1, -1], "Unknown label type: continuous"),
    ],
)
def test_degenerate_labels_get_sklearn_style_errors(y, message):
    x = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(FewLabelsError, match=message):
        SelfTraining(**FAST).fit(x, np.asarray(y))


def test_degenerate_features_are_refused():
    with pytest.raises(FewLabelsError, match=r"0 feature\(s\)"):
        SelfTraining(**FAST).fit(np.zeros((4, 0)), np.array([0, 1, -1, -1]))
    with pytest.raises(FewLabelsError, match="at least 2 samples; got n_samples = 1"):
        SelfTraining(**FAST).fit(np.zeros((1, 2)), np.array([0]))
    with pytest.raises(FewLabelsError, match="NaN or inf"):
        SelfTraining(**FAST).fit(np.array([[np.nan, 1.0], [0.0, 1.0]]), np.array([0, 1]))


def test_a_single_example_class_and_an_absent_class_warn():
    x, y, _ = blobs(n_per_class=10, n_labeled=3)
    y[(y == 2)] = -1
    y[np.flatnonzero(np.arange(len(y)) >= 20)[0]] = 2  # exactly one labeled row of class 2
    with pytest.warns(FewLabelsWarning, match=r"single labeled example.*\['c'\]"):
        SelfTraining(**{**FAST, "rounds": 0}).fit(x, y, classes=["a", "b", "c"])
    y2 = np.where(y == 2, -1, y)
    with pytest.warns(FewLabelsWarning, match=r"no labeled rows.*\['c'\]"):
        SelfTraining(**{**FAST, "rounds": 0}).fit(x, y2, classes=["a", "b", "c"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"threshold": 1.5}, r"threshold must be in \[0.0, 1.0\]; got 1.5"),
        ({"criterion": "best"}, r"criterion must be one of \['threshold', 'k_best'\]"),
        ({"hidden_units": ()}, "hidden_units must be a non-empty sequence"),
        ({"rounds": -1}, r"rounds must be in \[0, inf\]; got -1"),
        ({"learning_rate": 0.0}, r"learning_rate must be in \(0.0, inf\)"),
        ({"soft_labels": "yes"}, "soft_labels must be True or False"),
        ({"activation": "nonsense"}, "activation 'nonsense' is not a Keras activation"),
    ],
)
def test_bad_parameters_are_named_at_fit(params, message):
    x, y, _ = blobs(n_per_class=5, n_labeled=2)
    with pytest.raises(FewLabelsError, match=message):
        SelfTraining(**{**FAST, **params}).fit(x, y)


def test_set_params_refuses_unknown_names():
    with pytest.raises(FewLabelsError, match="unknown parameter 'treshold'"):
        SelfTraining().set_params(treshold=0.5)


def test_save_and_load_round_trip_predicts_identically(fitted, tmp_path):
    model, x, _, _ = fitted
    model.save(tmp_path / "run")
    loaded = SelfTraining.load(tmp_path / "run")
    assert loaded.classes_.tolist() == ["a", "b", "c"]
    assert loaded.params_json() == model.params_json()
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_predictions_do_not_depend_on_row_order(fitted):
    model, x, _, _ = fitted
    order = np.random.default_rng(0).permutation(len(x))
    np.testing.assert_allclose(model.predict_proba(x[order]), model.predict_proba(x)[order],
                               rtol=1e-6, atol=1e-7)


def test_predictions_do_not_depend_on_batch_size(fitted, monkeypatch):
    from fewlabels import training

    model, x, _, _ = fitted
    whole = model.predict_proba(x)
    monkeypatch.setattr(training, "PREDICT_BATCH_SIZE", 7)
    np.testing.assert_allclose(model.predict_proba(x), whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(model.predict(x), np.asarray(model.classes_)[whole.argmax(1)])


def test_unfitted_model_is_refused():
    with pytest.raises(FewLabelsError, match="not fitted"):
        SelfTraining().predict(np.zeros((1, 2)))
def test_wrong_width_is_refused(fitted):
    model = fitted[0]
    with pytest.raises(FewLabelsError, match="has 3 features, but SelfTraining is expecting 2"):
        model.predict(np.zeros((1, 3)))


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("classes.json", '{"a": 1}', r"classes\.json: must be a JSON list"),
        ("config.json", "{}", r"config\.json: has no 'params' object"),
        ("classes.json", '["a", "b"]', r"the model has 3 outputs but classes\.json lists 2"),
        ("config.json", "{not json", r"config\.json: not valid JSON"),
    ],
)
def test_tampered_run_directories_are_refused_with_the_file_named(fitted, tmp_path, file,
                                                                   content, message):
    fitted[0].save(tmp_path / "run")
    (tmp_path / "run" / file).write_text(content)
    with pytest.raises(FewLabelsError, match=message):
        SelfTraining.load(tmp_path / "run")


def test_a_missing_run_directory_is_refused(tmp_path):
    with pytest.raises(FewLabelsError, match="no such run directory"):
        SelfTraining.load(tmp_path / "missing")


@pytest.fixture(scope="module")
def digit_images():
    from fewlabels.data.images import load_image_dataset

    data = load_image_dataset("digits")
    y = np.full(len(data.y), -1)
    for c in range(10):
        y[np.flatnonzero(data.y == c)[:8]] = c
    return data, y


def test_self_training_on_images_with_a_cnn_and_augmentation(digit_images, tmp_path):
    data, y = digit_images
    params = {**FAST, "model": "cnn", "augment": "weak", "rounds": 1, "epochs": 30,
              "batch_size": 16, "learning_rate": 0.003, "finetune": False}
    model = SelfTraining(**params).fit(data.x, y, classes=data.classes)
    assert model.input_shape_ == (8, 8, 1)
    assert model.predict_proba(data.x_test).shape == (len(data.x_test), 10)
    # In inference mode the CNN must be good after ~100 steps: with BatchNorm momentum 0.99
    # its moving statistics lag and it scores near chance (0.11) here.
    assert np.mean(model.predict(data.x_test) == np.asarray(model.classes_)[data.y_test]) > 0.5
    model.save(tmp_path / "run")
    loaded = SelfTraining.load(tmp_path / "run")
    assert loaded.model.architecture == "cnn" and loaded.input_shape_ == (8, 8, 1)
    np.testing.assert_allclose(loaded.predict_proba(data.x_test[:5]),
                               model.predict_proba(data.x_test[:5]), rtol=1e-5, atol=1e-6)
    with pytest.raises(FewLabelsError, match=r"images of shape \(8, 8, 1\), but the model was "
                                             r"trained on|trained on \(8, 8, 1\)"):
        model.predict(np.zeros((1, 9, 9, 1)))


def test_image_inputs_are_checked_and_augment_needs_images(digit_images):
    data, y = digit_images
    with pytest.raises(FewLabelsError, match="augment='weak' needs images"):
        SelfTraining(**{**FAST, "augment": "weak"}).fit(np.zeros((4, 2)), np.array([0, 1, -1, -1]))
    with pytest.raises(FewLabelsError, match="model='cnn' takes images"):
        SelfTraining(**{**FAST, "model": "cnn"}).fit(np.zeros((4, 2)), np.array([0, 1, -1, -1]))
    with pytest.raises(FewLabelsError, match="model='mlp' takes feature rows"):
        SelfTraining(**{**FAST, "model": "mlp"}).fit(data.x, y)
    with pytest.raises(FewLabelsError, match="backbone='cnn' builds a transfer model, but "
                                             "model='wrn'"):
        SelfTraining(**{**FAST, "model": "wrn", "backbone": "cnn"}).fit(data.x, y)
    with pytest.raises(FewLabelsError, match="model='transfer' needs a backbone"):
        SelfTraining(**{**FAST, "model": "transfer"}).fit(data.x, y)
    with pytest.raises(FewLabelsError, match=r"augment must be one of"):
        SelfTraining(**{**FAST, "model": "cnn", "augment": "heavy"}).fit(data.x, y)


def test_auto_picks_the_mlp_for_rows_and_the_cnn_for_images():
    est = SelfTraining()
    assert est.network_for(2) == "mlp" and est.network_for(4) == "cnn"
    assert SelfTraining(backbone="MobileNetV2").network_for(4) == "transfer"


def test_one_hot_labels_train_exactly_like_class_indices():
    table = load_builtin("wine")
    x, y = table.x, table.y
    y_partial = np.full(len(y), -1)
    y_partial[::6] = y[::6]
    onehot = np.zeros((len(y), 3))
    onehot[y_partial >= 0, y_partial[y_partial >= 0]] = 1.0
    params = {**FAST, "rounds": 1, "epochs": 5, "finetune": False}
    a = SelfTraining(**params).fit(x, y_partial)
    b = SelfTraining(**params).fit(x, onehot)
    np.testing.assert_array_equal(a.transduction_, b.transduction_)
    np.testing.assert_allclose(a.predict_proba(x), b.predict_proba(x), atol=1e-6)
    assert a.evaluate(x, y)["accuracy"] == b.evaluate(x, np.eye(3)[y])["accuracy"]
    bad = onehot.copy()
    bad[4] = [0.5, 0.5, 0.0]
    with pytest.raises(FewLabelsError, match=r"y row 4 is not one-hot"):
        SelfTraining(**params).fit(x, bad)
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        column = SelfTraining(**params).fit(x, y_partial[:, None])  # scikit-learn's way
    np.testing.assert_array_equal(column.transduction_, a.transduction_)


def test_transfer_trains_head_then_unfreezes_top_layers_with_bn_kept(tmp_path):
    """Phase 1 (frozen backbone), then phase 2 (top layers, 10x lower learning rate)."""
    import keras

    from fewlabels.models.transfer import (
        BACKBONE_LAYER,
        build_transfer_model,
        save_backbone_weights,
    )

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (48, 12, 12, 1)).astype(np.uint8)
    y = np.where(np.arange(48) < 24, np.arange(48) % 3, -1)
    source = build_transfer_model("cnn", (12, 12, 1), 4, weights=None, frozen=False)
    weights = save_backbone_weights(source, tmp_path / "cnn.weights.h5")
    pretrained = [keras.ops.convert_to_numpy(w) for w in
                  source.get_layer(BACKBONE_LAYER).weights]
    params = {**FAST, "backbone": "cnn", "weights": str(weights), "unfreeze": 2, "epochs": 2,
              "rounds": 0, "finetune": False, "learning_rate": 0.01}
    model = SelfTraining(**params).fit(x, y)
    phases = model.stages_[0]["phases"]
    assert [p["phase"] for p in phases] == [
        "frozen backbone", "top 2 backbone layers unfrozen, learning rate 0.001"]
    base = model.model_.get_layer(BACKBONE_LAYER)
    after = {w.path: keras.ops.convert_to_numpy(w) for w in base.weights}
    bn = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in bn:  # BatchNorm stays frozen and in inference mode: statistics unchanged
        for w in (layer.moving_mean, layer.moving_variance, layer.gamma):
            index = [v.path for v in base.weights].index(w.path)
            np.testing.assert_array_equal(after[w.path], pretrained[index])
    convs = [layer for layer in base.layers if layer.weights and layer not in bn]
    moved = [not np.array_equal(after[layer.weights[0].path],
                                pretrained[[v.path for v in base.weights]
                                           .index(layer.weights[0].path)])
             for layer in convs]
    assert moved[-2:] == [True, True] and not any(moved[:-2])  # only the top 2 unfrozen
    model.save(tmp_path / "run")
    loaded = SelfTraining.load(tmp_path / "run")
    np.testing.assert_allclose(loaded.predict_proba(x[:4]), model.predict_proba(x[:4]),
                               atol=1e-6)
    frozen = SelfTraining(**{**params, "unfreeze": 0}).fit(x, y)
    assert "phases" not in frozen.stages_[0]


@pytest.mark.parametrize("method", ["self-training", "fixmatch"])
def test_unlabeled_data_with_an_extra_class_does_not_sink_the_known_classes(method):
    """Open-set unlabeled data (docs/reliability.md): digits 0-8 are labeled, the
    unlabeled pool also holds every 9. Training completes, and accuracy on the known classes
    stays within 5 points of the supervised baseline trained on the same labels."""
    from fewlabels.workflow import make_estimator

    table = load_builtin("digits")

    x, y = table.x, table.y
    known = y < 9
    rng = np.random.default_rng(0)
    test = rng.random(len(y)) < 0.3
    train_x, train_y = x[~test], y[~test].copy()
    labeled = np.zeros(len(train_y), bool)
    for c in range(9):
        labeled[np.flatnonzero(train_y == c)[:8]] = True
    train_y[~labeled] = -1  # the unlabeled pool: known classes and every 9
    params = ({"hidden_units": (32,), "epochs": 60, "rounds": 2, "seed": 0}
              if method == "self-training" else
              {"hidden_units": (32,), "steps": 300, "steps_per_epoch": 100, "seed": 0})
    ssl = make_estimator(method, **params).fit(train_x, train_y, classes=list(range(9)))
    base = ssl.supervised_baseline().fit(train_x, train_y, classes=list(range(9)))
    test_known = test & known
    acc_ssl = np.mean(ssl.predict(x[test_known]) == y[test_known])
    acc_base = np.mean(base.predict(x[test_known]) == y[test_known])
    assert acc_ssl >= acc_base - 0.05, (acc_ssl, acc_base)


def test_calibrate_fits_a_temperature_before_each_selection_and_records_ece():
    x, y, _ = blobs()
    model = SelfTraining(**{**FAST, "rounds": 1, "calibrate": True}).fit(x, y)
    record = model.rounds_[0]["calibration"]
    assert record["temperature"] > 0 and record["ece_after"] <= record["ece_before"] + 1e-9
    plain = SelfTraining(**{**FAST, "rounds": 1, "calibrate": False}).fit(x, y)
    assert "calibration" not in plain.rounds_[0]
    # The default calibrates where there is a validation split: the network's.
    default = SelfTraining(**{**FAST, "rounds": 1}).fit(x, y)
    assert SelfTraining()._spec("selection").calibrate is None and default.n_validation_ > 0
    assert default.rounds_[0]["calibration"] == record


def test_sample_weight_is_checked_at_the_door_for_a_network_too():
    x, y, _ = blobs(n_per_class=10)
    with pytest.raises(FewLabelsError, match=r"sample_weight has shape \(3,\); expected \(30,\)"):
        SelfTraining(**FAST).fit(x, y, sample_weight=[1.0, 2.0, 3.0])
