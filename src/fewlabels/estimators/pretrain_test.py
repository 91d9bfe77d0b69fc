"""Self-supervised pretraining: the loss, the tabular view, the body it trains, and the body
starting every method's network (`backbone_weights`)."""

import json

import keras
import numpy as np
import pytest

from fewlabels import cli
from fewlabels.errors import InputError
from fewlabels.estimators.pretrain import nt_xent, pretrain, scarf_view
from fewlabels.estimators.specs import Network
from fewlabels.models.body import load_body_weights, network_body, save_body_weights
from fewlabels.models.chooser import build_network


def _nt_xent_reference(z1, z2, temperature):
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T / temperature
    n = len(z1)
    losses = []
    for i in range(2 * n):
        others = np.delete(sim[i], i)
        positive = sim[i, (i + n) % (2 * n)]
        losses.append(np.log(np.exp(others).sum()) - positive)
    return float(np.mean(losses))


def test_nt_xent_matches_its_definition_and_rewards_matching_views():
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    got = float(keras.ops.convert_to_numpy(nt_xent(z1.astype("float32"), z2.astype("float32"),
                                                   0.5)))
    assert got == pytest.approx(_nt_xent_reference(z1, z2, 0.5), rel=1e-4)
    same = float(keras.ops.convert_to_numpy(nt_xent(np.eye(6, dtype="float32"),
                                                    np.eye(6, dtype="float32"), 0.1)))
    assert same < 0.01 < got  # each view's pair is itself, every other item orthogonal


def test_the_scarf_view_takes_each_corrupted_cell_from_its_own_column():
    x = np.arange(200, dtype="float32").reshape(50, 4)  # every value names its column
    seed = keras.random.SeedGenerator(0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(scarf_view(x, 0.0, seed)), x)
    view = keras.ops.convert_to_numpy(scarf_view(x, 0.6, seed))
    assert np.all(view % 4 == x % 4)  # a cell comes from the same feature of another row
    changed = np.mean(view != x)
    assert 0.45 < changed < 0.65  # 60% drawn, a few from the row itself


def test_pretraining_on_digit_images_lowers_the_loss_and_the_body_starts_a_new_network(
        tmp_path):
    from fewlabels.data.images import load_image_dataset

    digits = load_image_dataset("digits")
    spec = Network("cnn", cnn_widths=(4, 8))
    done = pretrain(digits.x, network=spec, steps=100, batch_size=64,
                    augment_params={"horizontal_flip": False})
    assert done.objective == "simclr" and done.network_kind == "cnn" and done.steps == 100
    assert done.losses[-1] < done.losses[0] < np.log(127) + 0.1  # chance: log(2B - 1)
    path = save_body_weights(done.network, tmp_path / "body.weights.h5")
    fresh = build_network("cnn", digits.x, 10, spec.replace(backbone_weights=str(path)))
    for a, b in zip(network_body(done.network).get_weights(),
                    network_body(fresh).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert fresh.get_layer("probabilities").units == 10  # a new head for the task


def test_pretraining_rows_is_scarf_and_seeded():
    from fewlabels.data import load_builtin

    wine = load_builtin("wine")
    runs = [pretrain(wine.x, steps=50, batch_size=32, seed=3) for _ in range(2)]
    assert runs[0].objective == "scarf" and runs[0].network_kind == "mlp"
    assert runs[0].losses == runs[1].losses


def test_a_body_for_another_network_is_refused_naming_the_layer(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 5)).astype("float32")
    source = build_network("mlp", x, 2, Network(hidden_units=(8,)))
    path = save_body_weights(source, tmp_path / "mlp.weights.h5")
    with pytest.raises(InputError, match=r"mlp\.weights\.h5: these weights are not for this "
                                         r"network's body \(dense_1/kernel is \(5, 16\) in "
                                         r"the network, \(5, 8\) in the file\)"):
        build_network("mlp", x, 2, Network(hidden_units=(16,), backbone_weights=str(path)))
    with pytest.raises(InputError, match="a transfer model takes its backbone's file"):
        build_network("transfer", np.zeros((4, 8, 8, 1)), 2,
                      Network(backbone="cnn", weights="none", backbone_weights=str(path)))
    with pytest.raises(InputError, match="no such weights file"):
        load_body_weights(source, tmp_path / "missing.weights.h5")
    with pytest.raises(InputError, match=r"must end in \.weights\.h5"):
        save_body_weights(source, tmp_path / "body.h5")


@pytest.mark.parametrize("settings, said", [
    (dict(steps=0), "steps must be an integer >= 1; got 0"),
    (dict(batch_size=1), "batch_size must be at least 2"),
    (dict(corruption=1.0), r"corruption must be in \(0, 1\); got 1.0"),
    (dict(network=Network(backbone="cnn")), "a transfer backbone brings its own"),
])
def test_bad_pretraining_settings_are_named(settings, said):
    x = np.zeros((10, 8, 8, 1)) if "network" in settings else np.zeros((10, 3))
    with pytest.raises(InputError, match=said):
        pretrain(x, **settings)


def test_non_finite_pretraining_data_is_refused_naming_the_row():
    x = np.zeros((10, 3))
    x[4, 1], x[7, 0] = np.nan, np.inf
    with pytest.raises(InputError, match=r"row 4 of the pretraining data has a non-finite "
                                         r"value \(2 rows do\)"):
        pretrain(x, steps=1)
    with pytest.raises(InputError, match="pretrain needs numbers; got an array of <U1"):
        pretrain(np.array([["a", "b"], ["c", "d"]]), steps=1)


def test_cli_pretrain_then_fit_with_the_options_it_names(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (60, 3)), rng.normal(3, 1, (60, 3))])
    data = tmp_path / "t.csv"
    data.write_text("".join(",".join(f"{v:.3f}" for v in row)
                            + f",{'ab'[i // 60] if i % 4 == 0 else '?'}\n"
                            for i, row in enumerate(x)))
    body = tmp_path / "body.weights.h5"
    assert cli.main(["pretrain", str(data), "--out", str(body), "--steps", "20",
                     "--batch-size", "32", "--hidden-units", "16", "--verbose", "0"]) == 0
    said = capsys.readouterr().out
    record = json.loads((tmp_path / "body.pretrain.json").read_text())
    assert record["objective"] == "scarf" and record["items"] == 120
    assert record["temperature"] == 1.0 and record["corruption"] == 0.6
    assert record["fit_options"] == ["--backbone-weights", str(body), "--hidden-units", "16"]
    assert " ".join(record["fit_options"]) in said
    assert cli.main(["fit", str(data), "--out", str(tmp_path / "run"), "--method",
                     "self-training", "--epochs", "2", "--rounds", "1", "--verbose", "0",
                     *record["fit_options"]]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert json.dumps(config).count(str(body)) >= 1  # the run records where it started
    assert cli.main(["pretrain", str(data), "--out", str(body), "--steps", "20"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("out, said", [
    ("body.h5", r"body\.h5: a weights file name must end in \.weights\.h5"),
    ("missing/body.weights.h5", r"the folder .*missing does not exist"),
    ("t.weights.h5", r"t\.weights\.h5: is the input data"),
])
def test_pretrain_refuses_a_bad_output_file_before_any_work(tmp_path, out, said):
    from fewlabels.workflow.pretrain import pretrain_run

    data = tmp_path / "t.weights.h5"  # a table whose name is the output's
    data.write_text("".join(f"{i},{i % 2}\n" for i in range(10)))
    with pytest.raises(InputError, match=said):
        pretrain_run(data, tmp_path / out, steps=1)


def test_cli_pretrain_names_bad_widths(tmp_path, capsys):
    data = tmp_path / "t.csv"
    data.write_text("".join(f"{i},{i % 2}\n" for i in range(10)))
    assert cli.main(["pretrain", str(data), "--out", str(tmp_path / "b.weights.h5"),
                     "--hidden-units", "64,x"]) == 2
    assert "--hidden-units takes integers separated by commas; got '64,x'" in \
        capsys.readouterr().err


def test_a_network_without_an_output_layer_has_no_body():
    inputs = keras.Input((3,))
    plain = keras.Model(inputs, keras.layers.Dense(2, name="scores")(inputs), name="plain")
    with pytest.raises(InputError, match="network 'plain' has no output layer named "
                                         "'probabilities', so it has no body"):
        network_body(plain)


def test_streaming_a_table_for_pretraining_is_refused_by_name(tmp_path):
    from fewlabels.workflow.pretrain import pretrain_run

    data = tmp_path / "t.csv"
    data.write_text("1,2,a\n3,4,?\n5,6,b\n")
    with pytest.raises(InputError, match="stream_unlabeled reads image folders and shards"):
        pretrain_run(data, tmp_path / "b.weights.h5", steps=1,
                     read={"stream_unlabeled": True})
