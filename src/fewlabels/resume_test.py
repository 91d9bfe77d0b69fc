"""Kill tests: `fewlabels fit` in a subprocess, killed at a seeded random step, resumed with
`--resume`, must end exactly where an uninterrupted run ends (docs/reliability.md)."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from fewlabels import cli
from fewlabels.data.builtin import load_builtin

FIXMATCH = ["--method", "fixmatch", "--steps", "240", "--steps-per-epoch", "20",
            "--batch-size", "8", "--uratio", "2", "--hidden-units", "16", "--no-baseline",
            "--checkpoint-steps", "1", "--verbose", "0"]
SELF_TRAINING = ["--method", "self-training", "--hidden-units", "16", "--epochs", "40",
                 "--patience", "40", "--rounds", "2", "--finetune-epochs", "20",
                 "--threshold", "0.6", "--no-baseline", "--verbose", "0"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """300 digits, 60 of them labeled, as a CSV with '?' marking the unlabeled rows."""
    table = load_builtin("digits")
    x, y = table.x, table.y
    path = tmp_path_factory.mktemp("data") / "digits.csv"
    lines = [",".join([*(f"{v:g}" for v in row), str(label) if i < 60 else "?"])
             for i, (row, label) in enumerate(zip(x[:300], y[:300], strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


def checkpoint_steps(run: Path) -> list[int]:
    folder = run / "checkpoints" / "main"
    if not folder.is_dir():
        return []
    return [int(p.name[5:15]) for p in folder.glob("ckpt-*.npz")]


def run_until(args: list[str], run: Path, step: int, sig: int) -> subprocess.CompletedProcess:
    """Start `fewlabels fit`, wait for a checkpoint at or past `step`, send `sig`."""
    proc = subprocess.Popen([sys.executable, "-m", "fewlabels", "fit", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(s >= step for s in checkpoint_steps(run)):
            os.kill(proc.pid, sig)
            break
        time.sleep(0.005)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def outcome(run: Path) -> dict:
    """What a finished run leaves: the model's weights, the metrics and the history."""
    model = keras.saving.load_model(run / "model.keras", compile=False, safe_mode=True)
    metrics = json.loads((run / "metrics.json").read_text())
    history = json.loads((run / "history.json").read_text())
    for result in metrics["results"]:
        result.pop("wall_s", None)
    return {"weights": model.get_weights(), "metrics": metrics["results"],
            "history": _drop_times(history)}


def _drop_times(obj):
    if isinstance(obj, dict):
        return {k: _drop_times(v) for k, v in obj.items() if k != "wall_s"}
    if isinstance(obj, list):
        return [_drop_times(v) for v in obj]
    return obj


def assert_same(a: dict, b: dict) -> None:
    for wa, wb in zip(a["weights"], b["weights"], strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a["metrics"] == b["metrics"]
    assert a["history"] == b["history"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, table):
    """The outcome of each method's run that nothing interrupts."""
    done = {}

    def get(method_args):
        key = method_args[1]
        if key not in done:
            run = tmp_path_factory.mktemp("reference") / "run"
            assert cli.main(["fit", str(table), "--out", str(run), *method_args]) == 0
            done[key] = outcome(run)
        return done[key]

    return get


@pytest.mark.parametrize("method_args", [FIXMATCH, SELF_TRAINING], ids=["fixmatch",
                                                                         "self-training"])
def test_sigkill_at_a_random_step_then_resume_equals_the_uninterrupted_run(
        tmp_path, table, uninterrupted, method_args):
    killed = tmp_path / "killed"
    step = random.Random(len(method_args)).randint(5, 60)  # a fixed seed picks the step
    proc = run_until([str(table), "--out", str(killed), *method_args], killed, step,
                     signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (killed / "model.keras").exists()  # no final model from a killed run
    assert cli.main(["fit", str(table), "--out", str(killed), *method_args]) == 2  # not silently
    assert cli.main(["fit", str(table), "--out", str(killed), *method_args, "--resume"]) == 0
    assert_same(uninterrupted(method_args), outcome(killed))


def test_sigterm_writes_a_checkpoint_exits_143_and_the_resumed_run_is_exact(
        tmp_path, table, uninterrupted, capsys):
    stopped = tmp_path / "stopped"
    proc = run_until([str(table), "--out", str(stopped), *FIXMATCH], stopped, 20,
                     signal.SIGTERM)
    assert proc.returncode == 143, proc.stderr
    assert "stopped by SIGTERM at step" in proc.stderr and "--resume" in proc.stderr
    done = max(checkpoint_steps(stopped)) // 20  # epochs finished before the stop
    assert cli.main(["fit", str(table), "--out", str(stopped), *FIXMATCH, "--resume",
                     "--verbose", "1"]) == 0  # (the verbosity is not part of the run)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert lines[0].startswith(f"epoch {done + 1}/12 ") and lines[-1].startswith("epoch 12/12")
    assert_same(uninterrupted(FIXMATCH), outcome(stopped))


def test_resume_with_changed_options_or_data_is_refused_naming_the_change(
        tmp_path, table, capsys):
    run = tmp_path / "run"
    proc = run_until([str(table), "--out", str(run), *FIXMATCH], run, 10, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    capsys.readouterr()
    changed = [a if a != "240" else "300" for a in FIXMATCH]  # --steps 300
    assert cli.main(["fit", str(table), "--out", str(run), *changed, "--resume"]) == 2
    assert "steps: 240 -> 300" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text(table.read_text().replace("?", "1", 1))
    assert cli.main(["fit", str(other), "--out", str(run), *FIXMATCH, "--resume"]) == 2
    assert "data (fingerprint" in capsys.readouterr().err
    flex = [a if a != "fixmatch" else "flexmatch" for a in FIXMATCH]
    assert cli.main(["fit", str(table), "--out", str(run), *flex, "--resume"]) == 2
    assert "method: 'fixmatch' -> 'flexmatch'" in capsys.readouterr().err


def test_sigterm_again_during_the_stop_still_exits_143_with_the_checkpoint_news(
        tmp_path, table):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "fewlabels", "fit", str(table), "--out",
                             str(run), *FIXMATCH],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not checkpoint_steps(run):
        time.sleep(0.005)
    for _ in range(8):  # one to stop, the rest while it writes its checkpoint and exits
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.02)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM at step" in err and "--resume" in err


def test_sigterm_before_training_exits_143(tmp_path, table):
    proc = subprocess.Popen([sys.executable, "-m", "fewlabels", "fit", str(table), "--out",
                             str(tmp_path / "run"), *FIXMATCH],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # importing, reading the table: no training step yet
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err
