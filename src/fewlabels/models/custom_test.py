"""A user's own keras.Model, or a function building one, trains in both estimators; one
that could not be saved or reloaded safely is refused before training."""

import keras
import numpy as np
import pytest

from fewlabels import ConsistencyTraining, SelfTraining, load_estimator
from fewlabels.errors import InputError


def _rows(n=80):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] > 0).astype(int)
    y[n // 2:] = -1
    return x, y


def _my_mlp(width=8, n_classes=2):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(width, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(hidden),
                       name="my_mlp")


def test_a_keras_model_trains_saves_and_reloads_in_self_training(tmp_path):
    x, y = _rows()
    mine = _my_mlp()
    model = SelfTraining(model=mine, epochs=5, patience=1, min_steps=0, rounds=1,
                         finetune=False).fit(x, y)
    assert model.model_ is not mine  # cloned: fresh weights for every stage
    assert model.model_.get_layer(index=1).units == 8
    model.save(tmp_path / "run")
    again = load_estimator(tmp_path / "run")
    np.testing.assert_allclose(again.predict_proba(x), model.predict_proba(x), atol=1e-6)
    assert model.params_json()["model"]["architecture"] == "custom:my_mlp"


def test_a_function_building_the_network_serves_consistency_training():
    x, y = _rows()
    seen = {}

    def build(input_shape, n_classes):
        seen["args"] = (input_shape, n_classes)
        return _my_mlp(width=6, n_classes=n_classes)

    model = ConsistencyTraining(model=build, steps=20, steps_per_epoch=10,
                                jit_compile=False).fit(x, y)
    assert seen["args"] == ((4,), 2) and model.predict_proba(x).shape == (80, 2)


def test_a_model_that_cannot_be_reloaded_safely_is_refused_before_training():
    x, y = _rows()
    inputs = keras.Input((4,))
    doubled = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    unsafe = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(doubled))
    with pytest.raises(InputError, match=r"could not be reloaded safely: .*Lambda"):
        SelfTraining(model=unsafe).fit(x, y)


@pytest.mark.parametrize("make, message", [
    (lambda: _my_mlp(n_classes=3), "your model has 3 outputs, but the data has 2 classes"),
    (lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]),
     "outputs are not probabilities: end it with a softmax"),
    (lambda: keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, activation="softmax")]),
     r"takes inputs of shape \(5,\), but the data's are \(4,\)"),
])
def test_a_model_that_does_not_fit_the_data_is_named(make, message):
    x, y = _rows()
    with pytest.raises(InputError, match=message):
        SelfTraining(model=make()).fit(x, y)


def test_the_model_parameter_names_what_it_takes():
    with pytest.raises(InputError, match="model must be one of"):
        SelfTraining(model="resnet").fit(*_rows())


def test_the_command_line_takes_a_keras_file_as_the_model_and_loads_it_safely(tmp_path):
    import json

    from fewlabels import cli

    x, y = _rows()
    table = tmp_path / "data.csv"
    table.write_text("".join(",".join(f"{v:.4f}" for v in row) + (f",{label}\n" if label >= 0
                             else ",?\n") for row, label in zip(x, y, strict=True)))
    _my_mlp(width=6).save(tmp_path / "net.keras")
    run = tmp_path / "run"
    assert cli.main(["fit", str(table), "--out", str(run), "--method", "self-training",
                     "--model", str(tmp_path / "net.keras"), "--epochs", "3", "--rounds", "1",
                     "--no-finetune", "--no-baseline", "--verbose", "0"]) == 0
    assert load_estimator(run).model_.get_layer(index=1).units == 6  # its architecture
    assert json.loads((run / "config.json").read_text())["params"]["model"][
        "architecture"].endswith("net.keras")
    inputs = keras.Input((4,))  # a Lambda: refused by the inspection, before training
    unsafe = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(
        keras.layers.Lambda(lambda t: t * 2.0)(inputs)))
    unsafe.save(tmp_path / "unsafe.keras")
    assert cli.main(["fit", str(table), "--out", str(tmp_path / "r2"), "--method",
                     "self-training", "--model", str(tmp_path / "unsafe.keras")]) == 2
    assert cli.main(["fit", str(table), "--out", str(tmp_path / "r3"), "--method",
                     "self-training", "--model", str(tmp_path / "missing.keras")]) == 2
    with pytest.raises(InputError, match=r"model: .*missing.keras: no such model file"):
        SelfTraining(model=str(tmp_path / "missing.keras")).fit(x, y)


def test_unfreeze_without_a_pretrained_backbone_is_refused():
    with pytest.raises(InputError, match="weights='none' trains the whole network"):
        SelfTraining(backbone="MobileNetV2", weights="none", unfreeze=3).fit(
            np.zeros((4, 32, 32, 3), np.uint8), np.array([0, 1, -1, -1]))
    with pytest.raises(InputError, match="the network is 'mlp', with no frozen backbone"):
        SelfTraining(unfreeze=3).fit(*_rows())
