"""Tests for the Keras plumbing: copies, saving and prediction."""

import numpy as np
import pytest

from fewlabels.errors import FewLabelsError
from fewlabels.models import build_mlp
from fewlabels.training import stage as training


@pytest.fixture(scope="module")
def model_and_data():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 4)) * [1, 10, 100, 1000] + [0, 5, -50, 500]).astype(np.float32)
    return build_mlp(4, 3, hidden_units=(8,), adapt_data=x), x


def test_copy_model_predicts_exactly_like_the_original(model_and_data):
    # The adapted Normalization layer must carry over (a bare clone + set_weights does not).
    model, x = model_and_data
    copy = training.copy_model(model)
    np.testing.assert_array_equal(training.predict_proba(copy, x), training.predict_proba(model, x))


def test_save_then_load_predicts_identically(model_and_data, tmp_path):
    model, x = model_and_data
    path = tmp_path / "model.keras"
    training.save_model(model, path)
    assert not list(tmp_path.glob(".*tmp*")), "the temporary file must be renamed away"
    loaded = training.load_model(path)
    np.testing.assert_array_equal(training.predict_proba(loaded, x),
                                  training.predict_proba(model, x))


def test_predictions_do_not_depend_on_batch_size(model_and_data, monkeypatch):
    model, x = model_and_data
    full = training.predict_proba(model, x)
    monkeypatch.setattr(training, "PREDICT_BATCH_SIZE", 7)
    np.testing.assert_allclose(training.predict_proba(model, x), full, rtol=1e-6, atol=1e-7)


def test_load_model_refuses_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FewLabelsError, match="no model file"):
        training.load_model(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(FewLabelsError, match=r"neither a \.keras archive nor an HDF5 file"):
        training.load_model(bad)


@pytest.mark.parametrize("min_steps", [0, 40])
def test_early_stopping_waits_for_min_steps(min_steps):
    # Validation targets are the opposite of the training targets, so the validation loss
    # rises from the first epoch: without a floor, early stopping ends the run at once.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 2)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(int)
    onehot = np.eye(2, dtype=np.float32)
    model = build_mlp(2, 2, hidden_units=(8,), adapt_data=x)
    record = training.train_stage(
        model, x, onehot[labels], validation=(x, onehot[1 - labels]), learning_rate=0.05,
        batch_size=8, epochs=60, patience=1, min_steps=min_steps,
    )
    if min_steps:
        assert record["epochs"] >= min_steps // 2  # 2 steps per pass
    else:  # the best is the first Keras epoch, and patience is one more
        assert record["epochs"] == 2 * record["passes_per_epoch"] < 60


def test_a_small_table_runs_several_passes_per_keras_epoch_counted_in_passes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2)).astype(np.float32)  # one step of 32 per pass
    onehot = np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    model = build_mlp(2, 2, hidden_units=(4,), adapt_data=x)
    record = training.train_stage(model, x, onehot, validation=(x, onehot), learning_rate=0.01,
                                  batch_size=32, epochs=64, patience=64, min_steps=1000)
    assert record["passes_per_epoch"] == training.MIN_EPOCH_STEPS
    assert record["epochs"] == 64 and len(record["history"]["loss"]) == 64 // 16
    assert int(model.optimizer.iterations) == 64  # one step per pass, all of them run


def test_a_model_with_a_lambda_layer_is_refused_on_load(tmp_path):
    import keras

    inputs = keras.Input((2,))
    outputs = keras.layers.Lambda(lambda t: t * 2)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(FewLabelsError, match="has a Lambda layer"):
        training.load_model(path)


def test_best_epoch_is_the_last_one_when_early_stopping_never_watched():
    x = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    onehot = np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    model = build_mlp(2, 2, hidden_units=(4,), adapt_data=x)
    record = training.train_stage(model, x, onehot, validation=(x, onehot), learning_rate=0.01,
                                  batch_size=8, epochs=5, patience=1, min_steps=1000)
    assert record["epochs"] == 5 and record["best_epoch"] == 5


def test_a_full_disk_at_the_final_save_is_a_storage_error_with_no_file_left(tmp_path,
                                                                          monkeypatch):
    import errno

    import keras

    from fewlabels.errors import StorageError
    from fewlabels.training.stage import save_model

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))

    def full_disk(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    with pytest.raises(StorageError, match=r"model.keras: could not write the model \(No "
                                           r"space left on device\)"):
        save_model(model, tmp_path / "model.keras")
    assert list(tmp_path.iterdir()) == []
