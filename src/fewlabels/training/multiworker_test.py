"""`--strategy multi-worker`: two worker processes on loopback, as a cluster runs them.

Each worker is a process on the JAX backend, told its place by `TF_CONFIG` (two 127.0.0.1
ports; `fewlabels.testing.cluster`): `fewlabels.testing.cluster_fits`, which runs three
methods through `fit_run` in one cluster, or `python -m fewlabels fit`. The reference is one
process on JAX with the same global batch. Bounded: every cluster is killed after 240 s.
"""

import json

import keras
import numpy as np
import pytest

from fewlabels.testing.cluster import run_losses, run_workers
from fewlabels.testing.cluster_fits import FITS
from fewlabels.testing.tables import partly_labeled_wine


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Wine, 10 labels per class, the others unlabeled (-1)."""
    return partly_labeled_wine(tmp_path_factory.mktemp("data"))


def one_process(table, out, *args: str) -> None:
    logs = out.parent / f"{out.name}-logs"
    codes = run_workers(["fit", str(table), "--out", str(out), *args], workers=1,
                        strategy="none", logs=logs, timeout_s=240)
    assert codes == [0], (logs / "worker-0.log").read_text()[-3000:]


def trained(out) -> tuple[list, list]:
    """The loss per epoch (every stage) and the final weights of a run directory."""
    history = json.loads((out / "history.json").read_text())
    if "rounds" in history:  # self-training labelled the pool in a round
        assert history["rounds"] and history["rounds"][0]["accepted"] > 0, history["rounds"]
    return run_losses(out), keras.saving.load_model(out / "model.keras").get_weights()


def assert_same_run(a, b, atol=1e-6) -> None:
    (loss_a, weights_a), (loss_b, weights_b) = trained(a), trained(b)
    assert len(loss_a) > 1
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5)
    for wa, wb in zip(weights_a, weights_b, strict=True):
        np.testing.assert_allclose(wa, wb, atol=atol)


@pytest.fixture(scope="module")
def fits(table, tmp_path_factory):
    """FixMatch, FlexMatch and self-training (`fewlabels.testing.cluster_fits`) run by one
    process, and by a cluster of two workers."""
    root = tmp_path_factory.mktemp("fits")
    for name, workers, strategy in (("one", 1, "none"), ("two", 2, "multi-worker")):
        codes = run_workers([str(table), str(root / name)], workers=workers, logs=root / name,
                            strategy=strategy, module="fewlabels.testing.cluster_fits",
                            timeout_s=240)
        assert codes == [0] * workers, (root / name / "worker-0.log").read_text()[-3000:]
    return root


@pytest.mark.parametrize("method", list(FITS))
def test_two_workers_follow_one_process_and_only_the_chief_writes(fits, method):
    assert_same_run(fits / "two" / method, fits / "one" / method)
    written = sorted(p.name for p in (fits / "two" / method).iterdir())
    assert written == sorted(p.name for p in (fits / "one" / method).iterdir())
    assert f"{method} trained as a worker" in (fits / "two" / "worker-1.log").read_text()
    assert f"{method} wrote" in (fits / "two" / "worker-0.log").read_text()


def labelling(log) -> dict:
    line = next(t for t in log.read_text().splitlines() if t.startswith("labelling "))
    return json.loads(line.split(" ", 1)[1])


def test_two_workers_label_half_of_every_batch_each_and_the_chief_writes_the_predictions(
        fits):
    # `batch_predictor`: 37 rows padded to 38, 19 computed by each process, gathered in order.
    one = labelling(fits / "one" / "worker-0.log")
    assert one["rows"] == [37]
    for worker in (0, 1):
        two = labelling(fits / "two" / f"worker-{worker}.log")
        assert two["rows"] == [19]
        np.testing.assert_allclose(two["proba"], one["proba"], atol=1e-6)
    # `predict_run` on two workers: the chief's CSV is the one process's.
    with_two = np.genfromtxt(fits / "two" / "predictions.csv", delimiter=",", skip_header=1)
    with_one = np.genfromtxt(fits / "one" / "predictions.csv", delimiter=",", skip_header=1)
    assert with_two.shape == with_one.shape and len(with_one) > 100
    np.testing.assert_allclose(with_two, with_one, atol=2e-6)
    assert "predicted 178" in (fits / "two" / "worker-1.log").read_text()


def test_a_killed_worker_stops_the_cluster_and_both_resume_from_the_chiefs_checkpoint(
        table, tmp_path):
    args = ["--method", "fixmatch", "--seed", "0", "--no-baseline", "--verbose", "0",
            "--batch-size", "8", "--uratio", "2", "--steps", "300", "--steps-per-epoch", "20",
            "--checkpoint-steps", "10"]
    checkpoints = tmp_path / "run" / "checkpoints" / "main"
    run = ["fit", str(table), "--out", str(tmp_path / "run"), *args]
    codes = run_workers(run, workers=2, logs=tmp_path / "killed", timeout_s=240,
                        kill_when=lambda: len(list(checkpoints.glob("ckpt-*.npz"))) >= 2)
    assert codes[1] == -9
    assert codes[0] != 0  # the chief stops when its peer's heartbeat does
    assert not (tmp_path / "run" / "model.keras").exists()
    codes = run_workers([*run, "--resume"], workers=2, logs=tmp_path / "resumed",
                        timeout_s=240)
    assert codes == [0, 0], (tmp_path / "resumed" / "worker-0.log").read_text()[-3000:]
    chief, worker = ((tmp_path / "resumed" / f"worker-{i}.log").read_text() for i in (0, 1))
    assert "Test results" in chief and f"Wrote {tmp_path / 'run'}/" in chief
    assert "Test results" not in worker  # the chief prints the results
    assert f"Trained as a worker of the cluster; its chief writes {tmp_path / 'run'}/" in worker
    one_process(table, tmp_path / "one", *args)
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


def test_a_bad_heartbeat_setting_is_named_before_joining(monkeypatch):
    from fewlabels.errors import FewLabelsError
    from fewlabels.training.distribute import HEARTBEAT_ENV, join_cluster

    monkeypatch.setenv(HEARTBEAT_ENV, "soon")
    with pytest.raises(FewLabelsError, match="FEWLABELS_HEARTBEAT_SECONDS must be a whole "
                                             "number of seconds >= 1; got 'soon'"):
        join_cluster(["127.0.0.1:1"], 0)
