"""`fit --strategy multi-worker`: two worker processes on loopback, as a cluster runs them.

Each worker is a `python -m fewlabels fit` process on the JAX backend, told its place by
`TF_CONFIG` (two 127.0.0.1 ports; `fewlabels.testing.cluster`). The reference is one process
on JAX with the same global batch. Bounded: every cluster is killed after 240 s.
"""

import json

import keras
import numpy as np
import pytest

from fewlabels.data.builtin import load_builtin
from fewlabels.testing.cluster import run_workers

METHODS = {
    "fixmatch": ["--steps", "40", "--steps-per-epoch", "10", "--batch-size", "8",
                 "--uratio", "2"],
    "flexmatch": ["--steps", "40", "--steps-per-epoch", "10", "--batch-size", "8",
                  "--uratio", "2", "--threshold", "0.5"],
    "self-training": ["--hidden-units", "16", "--epochs", "60", "--patience", "100",
                      "--min-steps", "0", "--rounds", "1", "--threshold", "0.6",
                      "--finetune-epochs", "2", "--batch-size", "8"],
}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Wine, 10 labels per class, the others unlabeled (-1)."""
    data = load_builtin("wine")
    rng = np.random.default_rng(0)
    y = np.full(len(data.y), -1)
    for c in np.unique(data.y):
        rows = rng.permutation(np.flatnonzero(data.y == c))[:10]
        y[rows] = data.y[rows]
    path = tmp_path_factory.mktemp("data") / "wine.txt"
    np.savetxt(path, np.column_stack([data.x, y]), fmt="%g")
    return path


def fit_args(table, out, method: str, *extra: str) -> list[str]:
    return ["fit", str(table), "--out", str(out), "--method", method, "--seed", "0",
            "--no-baseline", "--verbose", "0", *METHODS[method], *extra]


def one_process(table, out, method: str, *extra: str) -> None:
    codes = run_workers(fit_args(table, out, method, *extra), workers=1, strategy="none",
                        logs=out.parent / f"{out.name}-logs", timeout_s=240)
    assert codes == [0], (out.parent / f"{out.name}-logs" / "worker-0.log").read_text()[-3000:]


def trained(out) -> tuple[list, list]:
    """The loss per epoch (every stage) and the final weights of a run directory."""
    history = json.loads((out / "history.json").read_text())
    losses = history["epochs"]["loss"] if "epochs" in history else [  # self-training's
        loss for stage in history["stages"] for loss in stage["history"]["loss"]]
    if "rounds" in history:  # and it labelled the pool in a round
        assert history["rounds"] and history["rounds"][0]["accepted"] > 0, history["rounds"]
    return losses, keras.saving.load_model(out / "model.keras").get_weights()


def assert_same_run(a, b, atol=1e-6) -> None:
    (loss_a, weights_a), (loss_b, weights_b) = trained(a), trained(b)
    assert len(loss_a) > 1
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5)
    for wa, wb in zip(weights_a, weights_b, strict=True):
        np.testing.assert_allclose(wa, wb, atol=atol)


@pytest.mark.parametrize("method", list(METHODS))
def test_two_workers_follow_one_process_and_only_the_chief_writes(table, tmp_path, method):
    one_process(table, tmp_path / "one", method)
    logs = tmp_path / "logs"
    codes = run_workers(fit_args(table, tmp_path / "two", method), workers=2, logs=logs,
                        timeout_s=240)
    assert codes == [0, 0], (logs / "worker-0.log").read_text()[-3000:]
    assert_same_run(tmp_path / "two", tmp_path / "one")
    written = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert "its chief writes" in (logs / "worker-1.log").read_text()
    assert "Wrote" in (logs / "worker-0.log").read_text()


def test_a_killed_worker_stops_the_cluster_and_both_resume_from_the_chiefs_checkpoint(
        table, tmp_path):
    extra = ("--checkpoint-steps", "10")
    steps = ["--steps", "300", "--steps-per-epoch", "20"]
    args = [*fit_args(table, tmp_path / "run", "fixmatch", *extra), *steps]
    checkpoints = tmp_path / "run" / "checkpoints" / "main"
    codes = run_workers(args, workers=2, logs=tmp_path / "killed", timeout_s=240,
                        kill_when=lambda: len(list(checkpoints.glob("ckpt-*.npz"))) >= 2)
    assert codes[1] == -9
    assert codes[0] != 0  # the chief stops when its peer's heartbeat does
    assert not (tmp_path / "run" / "model.keras").exists()
    codes = run_workers([*args, "--resume"], workers=2, logs=tmp_path / "resumed",
                        timeout_s=240)
    assert codes == [0, 0], (tmp_path / "resumed" / "worker-0.log").read_text()[-3000:]
    one_process(table, tmp_path / "one", "fixmatch", *extra, *steps)
    assert_same_run(tmp_path / "run", tmp_path / "one")


def test_tf_config_names_what_is_wrong():
    from fewlabels.errors import FewLabelsError
    from fewlabels.training.distribute import cluster_from_tf_config

    two = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    assert cluster_from_tf_config(json.dumps(two)) == (["a:1", "b:2"], 1)
    chief = {"cluster": {"chief": ["c:0"], "worker": ["a:1"]},
             "task": {"type": "worker", "index": 0}}
    assert cluster_from_tf_config(json.dumps(chief)) == (["c:0", "a:1"], 1)
    with pytest.raises(FewLabelsError, match="needs TF_CONFIG"):
        cluster_from_tf_config("")
    with pytest.raises(FewLabelsError, match="not a cluster description"):
        cluster_from_tf_config("{bad json")
    with pytest.raises(FewLabelsError, match="task index 2 is outside the 2 worker"):
        cluster_from_tf_config(json.dumps({**two, "task": {"type": "worker", "index": 2}}))
    with pytest.raises(FewLabelsError, match="task type must be 'chief' or 'worker'"):
        cluster_from_tf_config(json.dumps({**two, "task": {"type": "ps", "index": 0}}))
