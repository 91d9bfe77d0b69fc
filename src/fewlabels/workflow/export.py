"""Export a run's model for serving: a TensorFlow SavedModel, a TFLite file or ONNX.

The model of a run holds its preprocessing (the standardization of table rows, the scaling
of images), so the exported model takes the same raw inputs as `predict`: feature rows as
float32, or images in 0..255. Its output is one probability per class, in the order of the
run's `classes.json`, which is copied beside it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fewlabels.errors import InputError
from fewlabels.files import write_json
from fewlabels.workflow.rundir import check_output_file, check_replaceable

FORMATS = ("savedmodel", "tflite", "onnx")
TFLITE_TOLERANCE = 1e-4
"""How far TFLite's probabilities may differ from the Keras model's (float32 kernels)."""
ONNX_TOLERANCE = 1e-5
"""How far ONNX Runtime's probabilities may differ from the Keras model's."""
ONNX_OPSET = 17
"""The ONNX opset the converter targets (ONNX Runtime 1.14 and later run it)."""


def export_run(run_dir: str | Path, *, format: str = "savedmodel",
               out: str | Path | None = None, trust_model: bool = False,
               overwrite: bool = False) -> Path:
    """Export a run's model as a SavedModel folder, a `.tflite` file or an `.onnx` file.

    Args:
        run_dir: a directory written by `fit_run`.
        format: `"savedmodel"` (a folder with a `serve` signature), `"tflite"` or `"onnx"`
            (converted from the SavedModel by `tf2onnx`: `pip install fewlabels[onnx]`).
        out: where to write; default `RUN_DIR/saved_model/`, `RUN_DIR/model.tflite` or
            `RUN_DIR/model.onnx`.
        trust_model: see `evaluate_run`.
        overwrite: replace what is at `out` (a file or folder of the same kind, never
            through a link); without it an existing `out` is refused.

    Returns:
        The path written. The class list is written as `assets/classes.json` inside a
        SavedModel folder, and as `<name>.classes.json` beside a `.tflite` or `.onnx` file.

    Example:
    ```python
    export_run("runs/demo", format="tflite")   # runs/demo/model.tflite
    ```
    """
    from fewlabels.estimators import load_estimator

    if format not in FORMATS:
        raise InputError(f"format must be one of {FORMATS}; got {format!r}.")
    if format == "onnx":
        _check_tf2onnx()
    import keras

    if format != "savedmodel" and keras.backend.backend() != "tensorflow":
        return _export_under_tensorflow(run_dir, format, out, trust_model, overwrite)
    run_dir = Path(run_dir)
    default = run_dir / ("saved_model" if format == "savedmodel" else f"model.{format}")
    out = Path(out) if out is not None else default
    folder = format == "savedmodel"
    if out != default:
        check_output_file(out, run_dir, run_dir / "model.keras", kind="export", folder=folder)
    check_replaceable(out, overwrite=overwrite, folder=folder)
    estimator = load_estimator(run_dir, trust_model=trust_model)
    classes = [c.item() if hasattr(c, "item") else c for c in estimator.classes_]
    with tempfile.TemporaryDirectory(dir=out.parent) as work:
        saved = Path(work) / "saved_model"
        estimator.model_.export(str(saved), format="tf_saved_model", verbose=False)
        write_json(saved / "assets" / "classes.json", classes)
        if format == "savedmodel":
            if out.exists():  # (check_replaceable: a folder, not a link, overwrite asked)
                shutil.rmtree(out)
            saved.rename(out)
            return out
        converted = Path(work) / f"model.{format}"
        if format == "onnx":
            _to_onnx(saved, converted)
        else:
            import tensorflow as tf

            converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
            converted.write_bytes(converter.convert())
        converted.replace(out)
    write_json(out.with_name(out.stem + ".classes.json"), classes)
    return out


def _export_under_tensorflow(run_dir, format: str, out, trust_model: bool,
                             overwrite: bool) -> Path:
    """The same export in a process on the TensorFlow backend. TFLite and ONNX convert a
    TensorFlow graph; a model exported from JAX goes through jax2tf, whose random-state
    variables (uint32) the TFLite converter refuses. The run's `model.keras` is the same
    file on every backend, so a TensorFlow process converts it."""
    import os
    import subprocess
    import sys

    from fewlabels.errors import EXIT_INPUT, EXIT_STORAGE, FewLabelsError, StorageError

    argv = [sys.executable, "-m", "fewlabels", "export", str(run_dir), "--format", format]
    argv += ["--out", str(out)] if out is not None else []
    argv += ["--trust-model"] * trust_model + ["--overwrite"] * overwrite
    done = subprocess.run(argv, env={**os.environ, "KERAS_BACKEND": "tensorflow"},
                          capture_output=True, text=True)
    said = (done.stderr.strip().splitlines() or [""])[-1].removeprefix("fewlabels: error: ")
    if done.returncode:
        kind = {EXIT_INPUT: InputError, EXIT_STORAGE: StorageError}.get(done.returncode,
                                                                        FewLabelsError)
        raise kind(said or f"the export under TensorFlow failed (exit {done.returncode}).")
    return Path(done.stdout.strip().splitlines()[-1].removeprefix("Wrote "))


def _check_tf2onnx() -> None:
    """Refuse ONNX before any work when its converter is not installed."""
    import importlib.util

    if importlib.util.find_spec("tf2onnx") is None:
        raise InputError("ONNX export needs tf2onnx: pip install 'fewlabels[onnx]'.")


def _to_onnx(saved: Path, out: Path) -> None:
    """Convert the SavedModel's `serve` signature to ONNX with tf2onnx's own command (Keras's
    `export(format="onnx")` turns a model's preprocessing constants into extra inputs)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved),
         "--signature_def", "serve", "--opset", str(ONNX_OPSET), "--output", str(out)],
        capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"tf2onnx could not convert the model: {last}")
