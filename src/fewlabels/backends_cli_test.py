"""Every command of the command line on the JAX backend (`KERAS_BACKEND=jax`): fit with each
kind of method, predict, evaluate, export (a SavedModel, and TFLite, which converts under
TensorFlow), report, augment-preview, pretrain (and a fit from its body) and methods, one
after the other in one JAX process (as `fewlabels.cli.main` calls, each with its own exit
code); and a SIGTERM stop and `--resume`, in processes of their own."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ENV = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}


def fewlabels(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fewlabels", *map(str, args)], env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (60, 3)), rng.normal(3, 1, (60, 3))])
    y = ["a"] * 60 + ["b"] * 60
    path = tmp_path_factory.mktemp("data") / "t.csv"
    path.write_text("".join(",".join(f"{v:.3f}" for v in row) + f",{label if i % 4 == 0 else '?'}\n"
                            for i, (row, label) in enumerate(zip(x, y, strict=True))))
    return path


ONE_PROCESS = """
import json, sys
import keras
from fewlabels.cli import main
print("backend:", keras.backend.backend(), flush=True)
for args in json.loads(sys.argv[1]):
    print(json.dumps([args[:3], main(args)]), flush=True)
"""


def test_every_command_runs_on_jax(table, tmp_path):
    run = tmp_path / "run"
    commands = (
        # the table ensemble, its network member trained on JAX (one round, 60 steps)
        ["fit", table, "--out", run, "--rounds", "1", "--network-steps", "60", "--verbose", "0"],
        ["fit", table, "--out", tmp_path / "st", "--method", "self-training", "--epochs", "3",
         "--rounds", "1", "--verbose", "0"],
        ["fit", "digits", "--out", tmp_path / "ts", "--method", "teacher-student", "--steps",
         "20", "--steps-per-epoch", "10", "--labels-per-class", "3", "--cnn-widths", "4,8",
         "--no-baseline", "--verbose", "0"],
        ["predict", run, table, "--out", tmp_path / "p.csv"],
        ["evaluate", run, table],
        ["export", run, "--out", tmp_path / "saved"],
        ["export", run, "--format", "tflite", "--out", tmp_path / "m.tflite"],
        ["report", run],
        ["augment-preview", "digits", "--out", tmp_path / "preview.png"],
        ["pretrain", table, "--out", tmp_path / "body.weights.h5", "--steps", "10",
         "--batch-size", "16", "--hidden-units", "8", "--verbose", "0"],
        ["fit", table, "--out", tmp_path / "pt", "--method", "fixmatch", "--steps", "10",
         "--steps-per-epoch", "5", "--hidden-units", "8", "--backbone-weights",
         tmp_path / "body.weights.h5", "--no-baseline", "--verbose", "0"],
        ["methods"],
    )
    argv = json.dumps([[str(a) for a in args] for args in commands])
    done = subprocess.run([sys.executable, "-c", ONE_PROCESS, argv], env=ENV,
                          capture_output=True, text=True, timeout=900)
    codes = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('[["')]
    assert done.returncode == 0 and len(codes) == len(commands), done.stderr[-3000:]
    assert done.stdout.startswith("backend: jax\n"), done.stdout[:200]
    for args, code in codes:
        assert code == 0, f"{args}: exit {code}; {done.stderr[-3000:]}"
    assert (tmp_path / "m.tflite").stat().st_size > 0 and (tmp_path / "saved").is_dir()


def test_a_sigterm_stop_and_resume_run_on_jax(table, tmp_path):
    run = tmp_path / "run"
    args = ["fit", table, "--out", run, "--method", "fixmatch", "--steps", "150",
            "--steps-per-epoch", "10", "--batch-size", "8", "--checkpoint-steps", "1",
            "--no-baseline", "--verbose", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "fewlabels", *map(str, args)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    folder = run / "checkpoints" / "main"
    while time.monotonic() < deadline and proc.poll() is None:
        if folder.is_dir() and any(folder.glob("ckpt-*.npz")):
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-2000:]
    done = fewlabels(*args, "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run / "model.keras").is_file()
