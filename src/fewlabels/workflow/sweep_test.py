"""`sweep`: seeds and a grid as Ray tasks on a local two-process Ray, a run directory each."""

import json

import keras
import numpy as np
import pytest

from fewlabels import cli
from fewlabels.errors import FewLabelsError
from fewlabels.testing.tables import partly_labeled_wine
from fewlabels.workflow.sweep import SWEEP_FILE, plan, sweep

FAST = {"hidden_units": (16,), "epochs": 20, "patience": 4, "rounds": 1,
        "finetune_epochs": 3, "learning_rate": 0.01}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Wine, 10 labels per class, the others unlabeled (-1)."""
    return partly_labeled_wine(tmp_path_factory.mktemp("data"))


def test_the_plan_is_every_grid_point_for_every_seed_and_refuses_bad_input():
    runs = plan([0, 1], {"threshold": [0.9, 0.95]})
    assert [name for name, _ in runs] == ["threshold-0.9_seed-0", "threshold-0.9_seed-1",
                                          "threshold-0.95_seed-0", "threshold-0.95_seed-1"]
    assert runs[3][1] == {"threshold": 0.95, "seed": 1}
    assert plan([3], None) == [("seed-3", {"seed": 3})]
    with pytest.raises(FewLabelsError, match="seeds must be integers"):
        plan([], None)
    with pytest.raises(FewLabelsError, match=r"grid\['threshold'\] must be a non-empty list"):
        plan([0], {"threshold": []})
    with pytest.raises(FewLabelsError, match="seed is swept by seeds="):
        plan([0], {"seed": [1, 2]})


def test_a_bad_value_stops_the_sweep_before_ray_starts(table, tmp_path):
    import ray

    with pytest.raises(FewLabelsError, match="threshold"):
        sweep(table, tmp_path / "s", method="self-training", grid={"threshold": [0.9, 7.0]})
    assert not ray.is_initialized()
    assert not (tmp_path / "s").exists()


def test_a_sweep_on_local_ray_writes_the_runs_one_by_one_runs_write(table, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert cli.main(["sweep", str(table), "--out", str(out), "--method", "self-training",
                     "--seeds", "0,1", "--grid", "threshold=0.8,0.95",
                     *[f"--set={k}={v}" for k, v in {**FAST, "hidden_units": "[16]"}.items()],
                     "--set", "baseline=false"]) == 0
    printed = capsys.readouterr().out
    assert "Wrote 4 runs and sweep.json" in printed and "mean accuracy" in printed
    record = json.loads((out / SWEEP_FILE).read_text())
    names = [r["name"] for r in record["runs"]]
    assert names == [name for name, _ in plan([0, 1], {"threshold": [0.8, 0.95]})]
    assert len({r["pid"] for r in record["runs"]}) == 2  # two Ray worker processes
    assert all(0 <= r["accuracy"] <= 1 for r in record["runs"])
    # One of them, run one by one, is the same run.
    from fewlabels.workflow import fit_run

    fit_run(table, tmp_path / "alone", method="self-training", seed=1, threshold=0.95,
            baseline=False, **FAST)
    swept = out / "threshold-0.95_seed-1"
    assert sorted(p.name for p in swept.iterdir()) == sorted(
        p.name for p in (tmp_path / "alone").iterdir())
    for a, b in zip(keras.saving.load_model(swept / "model.keras").get_weights(),
                    keras.saving.load_model(tmp_path / "alone" / "model.keras").get_weights(),
                    strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_bad_sweep_settings_are_named_before_ray_starts(table, tmp_path, capsys):
    import ray

    with pytest.raises(FewLabelsError, match="cpus_per_run must be an integer >= 1"):
        sweep(table, tmp_path / "s", cpus_per_run=0)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FewLabelsError, match="not empty; choose another folder"):
        sweep(table, tmp_path / "full")
    assert cli.main(["sweep", str(table), "--out", str(tmp_path / "s"), "--grid",
                     "threshold"]) == 2
    assert "--grid takes NAME=VALUE; got 'threshold'" in capsys.readouterr().err
    assert not ray.is_initialized()
