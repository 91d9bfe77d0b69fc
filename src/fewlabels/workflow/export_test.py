"""An exported model predicts what the run's model.keras predicts, preprocessing included."""

import json
import warnings

import numpy as np
import pytest

from fewlabels import cli
from fewlabels.estimators import load_estimator
from fewlabels.workflow.export import ONNX_TOLERANCE, TFLITE_TOLERANCE

FAST = ["--method", "supervised", "--epochs", "3", "--patience", "1", "--min-steps", "0",
        "--hidden-units", "8", "--no-baseline", "--verbose", "0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(80, 4))  # far from standardized: the model must scale
    y = np.where(x[:, 0] + x[:, 1] > 10, "big", "small")
    table = root / "data.csv"
    table.write_text("".join(",".join(f"{v:.5f}" for v in row) + f",{label}\n"
                             for row, label in zip(x, y, strict=True)))
    assert cli.main(["fit", str(table), "--out", str(root / "run"), *FAST]) == 0
    return root / "run"


def _inputs(n=100):
    return np.random.default_rng(1).normal(5.0, 3.0, size=(n, 4)).astype("float32")


def test_a_savedmodel_predicts_as_the_keras_model_within_1e_5(run):
    import tensorflow as tf

    assert cli.main(["export", str(run)]) == 0
    served = tf.saved_model.load(str(run / "saved_model"))
    x = _inputs()
    expected = load_estimator(run).predict_proba(x)
    np.testing.assert_allclose(served.serve(x).numpy(), expected, atol=1e-5)
    classes = json.loads((run / "saved_model" / "assets" / "classes.json").read_text())
    assert classes == ["big", "small"]


def test_a_tflite_file_predicts_as_the_keras_model_within_its_tolerance(run, tmp_path):
    import tensorflow as tf

    out = tmp_path / "m.tflite"
    assert cli.main(["export", str(run), "--format", "tflite", "--out", str(out)]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(out))
    x = _inputs()
    feed = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(feed["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(feed["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, load_estimator(run).predict_proba(x),
                               atol=TFLITE_TOLERANCE)
    assert json.loads((tmp_path / "m.classes.json").read_text()) == ["big", "small"]


def test_an_onnx_file_predicts_as_the_keras_model_within_1e_5(run):
    import onnxruntime

    assert cli.main(["export", str(run), "--format", "onnx"]) == 0
    session = onnxruntime.InferenceSession(str(run / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == ["features"]  # preprocessing inside
    x = _inputs()
    got = session.run(None, {"features": x})[0]
    np.testing.assert_allclose(got, load_estimator(run).predict_proba(x), atol=ONNX_TOLERANCE)
    assert json.loads((run / "model.classes.json").read_text()) == ["big", "small"]


def test_onnx_without_its_converter_is_refused_before_any_work(run, monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tf2onnx" else find_spec(name, *a))
    out = run / "other.onnx"
    assert cli.main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 2
    assert "pip install 'fewlabels[onnx]'" in capsys.readouterr().err and not out.exists()


def test_export_refuses_an_unknown_format_and_an_output_over_the_model(run, capsys):
    with pytest.raises(SystemExit):
        cli.main(["export", str(run), "--format", "pmml"])
    assert cli.main(["export", str(run), "--out", str(run / "model.keras")]) == 2
    assert "is the input data; writing the export there would destroy it" in (
        capsys.readouterr().err)


def test_export_refuses_an_existing_path_unless_overwrite_and_never_through_a_link(
        run, tmp_path, capsys):
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    assert cli.main(["export", str(run), "--out", str(precious)]) == 2  # a SavedModel folder
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert cli.main(["export", str(run), "--out", str(precious), "--overwrite"]) == 2
    assert "is a file, and this writes a folder" in capsys.readouterr().err
    assert precious.read_text() == "keep me"  # neither call touched it
    link = tmp_path / "link.tflite"
    link.symlink_to(precious)
    assert cli.main(["export", str(run), "--format", "tflite", "--out", str(link),
                     "--overwrite"]) == 2
    assert "is a link; fewlabels does not write through links" in capsys.readouterr().err
    assert precious.read_text() == "keep me"
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"old")
    assert cli.main(["export", str(run), "--format", "tflite", "--out", str(tflite),
                     "--overwrite"]) == 0
    assert tflite.read_bytes() != b"old"
