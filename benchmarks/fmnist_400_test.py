"""The Fashion-MNIST benchmark's table names what its runs were given."""

from __future__ import annotations

import fmnist_400
import pytest


def test_the_table_names_the_labels_per_class_and_whether_any_image_was_unlabeled():
    few = fmnist_400.labeled_text([{"n_labeled": 400}], {"settings": {"labels_per_class": 40}})
    assert few == "40 labels per class (400 labeled), the rest unlabeled"
    every = fmnist_400.labeled_text([{"n_labeled": 60_000}],
                                    {"settings": {"labels_per_class": 6000}})
    assert every == "6000 labels per class (60,000 labeled), no unlabeled images"


def test_zero_labels_per_class_is_refused_before_any_data_is_loaded(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["fmnist_400.py", "--labels-per-class", "0"])
    with pytest.raises(SystemExit):
        fmnist_400.main()
    assert "--labels-per-class must be >= 1; got 0" in capsys.readouterr().err


def test_the_table_shows_every_seed_and_no_spread_for_a_single_seed():
    def run(method, seed, accuracy):
        return {"method": method, "seed": seed, "test_accuracy": accuracy, "n_labeled": 400,
                "steps": 100, "seconds_per_step": 0.5, "images_per_s": 960.0,
                "mask_rate": 0.0 if method == "supervised" else 0.8,
                "pseudo_label_accuracy": 0.0 if method == "supervised" else 0.9,
                "wall_s": 1800.0, "curve": [[60.0, 0.7], [120.0, accuracy]]}

    runs = [run("fixmatch", 1, 0.82), run("fixmatch", 0, 0.84), run("supervised", 0, 0.81),
            run("supervised-all", 0, 0.91)]
    info = {"settings": {"labels_per_class": 40}, "command": "python benchmarks/fmnist_400.py",
            "date": "2026-11-24 12:00 UTC", "versions": {"keras": "3"},
            "machine": {"cpu": "AMD EPYC", "cores": 2, "ram_gib": 23.5}}
    text = fmnist_400.table(runs, info)
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in text.splitlines()
            if line.startswith("| fixmatch") or line.startswith("| supervised")}
    assert rows["fixmatch"][1:4] == ["2", "0.830 ± 0.014", "0: 0.840, 1: 0.820"]
    assert rows["supervised"][1:4] == ["1", "0.810", "0: 0.810"]
    # the baseline accepts no pseudo-labels: its pseudo-label columns are empty, not 0
    assert rows["supervised"][8:10] == ["-", "-"]
    assert rows["fixmatch"][4] == "0.20"  # (0.83 - 0.81) / (0.91 - 0.81) of the label gap
    assert rows["fixmatch"][-2:] == ["2.0, 2.0", "30.0 |"]


def test_minutes_to_reach_is_the_first_point_at_or_above_the_level():
    curve = [[30.0, 0.5], [90.0, 0.81], [150.0, 0.79], [210.0, 0.85]]
    assert fmnist_400.minutes_to_reach(curve, 0.80) == 1.5
    assert fmnist_400.minutes_to_reach(curve, 0.85) == 3.5
    assert fmnist_400.minutes_to_reach(curve, 0.90) is None


def _oracle_inputs():
    import numpy as np

    weak = np.array([[0.97, 0.01, 0.02],   # confident, guess 0, truly 1: a wrong pseudo-label
                     [0.10, 0.85, 0.05],   # not confident
                     [0.01, 0.01, 0.98],   # confident, guess 2, truly 2
                     [0.99, 0.005, 0.005]],  # confident, but its true label is unknown
                    dtype="float32")
    strong = np.array([[0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8], [0.5, 0.25, 0.25]],
                      dtype="float32")
    return weak, strong, {"hidden": np.array([1, 0, 2, -1])}


@pytest.mark.parametrize(("oracle", "mask", "true_probs"), [
    # FixMatch's mask (0.95): the confident images, each trained towards its true label
    ("OracleMasked", [1, 0, 1, 0], [0.7, 0.8]),
    # no mask: every image whose true label is known, whatever its confidence
    ("OracleAll", [1, 1, 1, 0], [0.7, 0.3, 0.8]),
])
def test_the_oracles_train_the_strong_view_towards_the_true_labels(oracle, mask, true_probs):
    import numpy as np
    from keras import ops

    weak, strong, batch = _oracle_inputs()
    algorithm = getattr(fmnist_400, oracle)()
    algorithm.n_classes = 3
    out = algorithm.unsupervised(weak, strong, batch, None)
    np.testing.assert_array_equal(ops.convert_to_numpy(out["mask"]), mask)
    # the student's own guesses are what is logged as pseudo-labels
    np.testing.assert_array_equal(ops.convert_to_numpy(out["pseudo_labels"]), [0, 1, 2, 0])
    # FixMatch's mean over the whole batch of mask * CE(true label, strong view)
    expected = -np.sum(np.log(true_probs)) / 4
    assert float(ops.convert_to_numpy(out["loss"])) == pytest.approx(expected, rel=1e-5)


def test_the_oracles_join_the_registry_only_when_asked_and_only_once(monkeypatch):
    from fewlabels.algorithms import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    assert "oracle-masked" not in registry.names()
    assert fmnist_400.unlabeled_views("oracle-all") == 2  # registers them
    fmnist_400.register_oracles()  # a second time is a no-op, not a duplicate error
    assert registry.get("oracle-masked") is fmnist_400.OracleMasked
    assert registry.names().count("oracle-all") == 1


def test_steps_that_are_not_whole_epochs_are_refused_before_any_data_is_loaded(
        monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["fmnist_400.py", "--steps", "75"])
    with pytest.raises(SystemExit):
        fmnist_400.main()
    assert "--steps must be a positive multiple of --steps-per-epoch (50); got 75" \
        in capsys.readouterr().err


def test_a_fixed_step_table_says_so_instead_of_naming_a_budget():
    runs = [{"method": "oracle-masked", "seed": 0, "test_accuracy": 0.86, "n_labeled": 400,
             "steps": 3750, "seconds_per_step": 0.47, "images_per_s": 1000.0,
             "mask_rate": 0.8, "pseudo_label_accuracy": 0.9, "wall_s": 1800.0, "curve": []}]
    info = {"settings": {"labels_per_class": 40, "steps": 3750},
            "command": "python benchmarks/fmnist_400.py", "date": "2026-11-27 14:00 UTC",
            "versions": {"keras": "3"}, "machine": {"cpu": "AMD EPYC", "cores": 2,
                                                    "ram_gib": 23.5}}
    text = fmnist_400.table(runs, info)
    assert "every run makes 3,750 steps" in text
    assert "wall-clock training time" not in text
    assert "| oracle-masked | 1 | 0.860 |" in text


def _run(method, seed, accuracy, **extra):
    return {"method": method, "seed": seed, "test_accuracy": accuracy, "n_labeled": 400,
            "steps": 100, "seconds_per_step": 0.5, "images_per_s": 960.0, "mask_rate": 0.8,
            "pseudo_label_accuracy": 0.9, "wall_s": 1800.0, "curve": [], **extra}


def test_a_pretrained_run_and_one_on_picked_labels_get_rows_of_their_own():
    runs = [_run("teacher-student", 0, 0.84), _run("supervised", 0, 0.81),
            _run("supervised-all", 0, 0.91),
            _run("teacher-student", 0, 0.86, pretrain_steps=3000, pretrain_s=360.0),
            _run("teacher-student", 0, 0.85, label_strategy="typical")]
    info = {"settings": {"labels_per_class": 40}, "command": "python benchmarks/fmnist_400.py",
            "date": "2026-12-06 12:00 UTC", "versions": {"keras": "3"},
            "machine": {"cpu": "Xeon", "cores": 2, "ram_gib": 23.5}}
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")
            for line in fmnist_400.table(runs, info).splitlines() if line.startswith("| ")}
    assert rows["teacher-student"][2] == "0.840"
    assert rows["teacher-student, pretrained 3,000 steps"][2] == "0.860"
    assert rows["teacher-student, labels picked by typical"][2] == "0.850"
    # each row's recovery is its own: (0.86 - 0.81) / (0.91 - 0.81)
    assert rows["teacher-student, pretrained 3,000 steps"][4] == "0.50"
    assert rows["teacher-student"][4] == "0.30"


def test_the_pretraining_time_is_taken_from_the_run_s_wall_clock_budget(monkeypatch):
    monkeypatch.setattr("sys.argv", ["fmnist_400.py"])
    args = fmnist_400.argparse.Namespace(
        budget_min=30.0, steps=None, model="cnn", cnn_widths=(4,), batch_size=8, uratio=1,
        steps_per_epoch=10, optimizer="sgd", learning_rate=0.03, jit=False,
        separate_weak_pass=False)
    plain = fmnist_400.make_model("fixmatch", args, 0)
    body = {"path": "body.weights.h5", "wall_s": 360.0}
    pretrained = fmnist_400.make_model("fixmatch", args, 0, body)
    assert plain.budget.seconds == 1800.0
    assert pretrained.budget.seconds == 1440.0
    assert pretrained.model.backbone_weights == "body.weights.h5"
    assert plain.model.backbone_weights is None


def test_picked_labels_come_from_the_strategy_and_reach_the_asked_count(monkeypatch):
    import numpy as np

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 30)
    data = fmnist_400.argparse.Namespace(x=rng.random((300, 8, 8, 1), dtype=np.float32), y=y)
    args = fmnist_400.argparse.Namespace(
        labels_per_class=5, label_strategy="margin", label_body=None, model="cnn",
        cnn_widths=(4,),
        batch_size=8, uratio=1, steps_per_epoch=10, optimizer="sgd", learning_rate=0.03,
        jit=False, separate_weak_pass=False)
    monkeypatch.setattr(fmnist_400, "PICK_STEPS", 10)
    y_partial, y_hidden, record = fmnist_400.pick_labels(args, data, seed=0)
    labeled = y_partial >= 0
    assert labeled.sum() == 50  # 2 per class at random, then the picks up to 5 per class
    np.testing.assert_array_equal(y_partial[labeled], y[labeled])  # revealed truthfully
    assert np.all(y_hidden[labeled] == -1) and np.all(y_hidden[~labeled] == y[~labeled])
    assert sum(record["labels_by_class"]) == 50 and record["label_strategy"] == "margin"


def test_a_cold_start_picks_every_label_on_the_pretrained_body_s_features(tmp_path):
    import numpy as np

    from fewlabels.estimators.pretrain import pretrain
    from fewlabels.estimators.specs import Network
    from fewlabels.models.body import save_body_weights

    rng = np.random.default_rng(0)
    data = fmnist_400.argparse.Namespace(x=rng.random((200, 8, 8, 1), dtype=np.float32) * 255,
                                         y=np.repeat(np.arange(10), 20))
    body = save_body_weights(pretrain(data.x, network=Network("cnn", cnn_widths=(4,)),
                                      steps=5, batch_size=32).network,
                             tmp_path / "body.weights.h5")
    args = fmnist_400.argparse.Namespace(labels_per_class=3, label_strategy="typical",
                                         label_body=str(body), model="cnn", cnn_widths=(4,))
    y_partial, _, record = fmnist_400.pick_labels(args, data, seed=0)
    assert np.sum(y_partial >= 0) == 30 and sum(record["labels_by_class"]) == 30
    assert record["label_strategy"] == "typical on a pretrained body"


def test_a_row_s_process_keeps_the_settings_and_names_its_own_row_seed_core_and_file(
        tmp_path):
    argv = ["--budget-min", "120", "--methods", "teacher-student,fixmatch",
            "--pretrain-steps=0,12000", "--seeds", "3", "--one-core-each", "--resume",
            "--out", "all.json", "--table", "all.md", "--teacher-share", "0.4"]
    command = fmnist_400.row_command(argv, ("fixmatch", 12000), 2, 1, tmp_path / "row.json")
    options = command[2:]
    assert options[:4] == ["--budget-min", "120", "--teacher-share", "0.4"]
    assert "--one-core-each" not in options and "--resume" not in options
    given = dict(zip(options[4::2], options[5::2], strict=True))
    assert given == {"--methods": "fixmatch", "--pretrain-steps": "12000", "--seeds": "2,",
                     "--core": "1", "--out": str(tmp_path / "row.json"),
                     "--table": str(tmp_path / "row.md"), "--plot": ""}
    assert fmnist_400.parse_seeds(given["--seeds"]) == [2]  # the seed, not a count


def _fake_rows(monkeypatch, exit_code=0):
    """`row_command` replaced by a process that records its row, seed and core as a run."""
    import sys

    def command(argv, row, seed, core, out):
        code = ("import json, os, sys; json.dump({'runs': [{'row': sys.argv[1], 'seed': "
                f"{seed}, 'core': {core}}}]}}, open(sys.argv[2], 'w')); sys.exit({exit_code})")
        return [sys.executable, "-c", code, row[0], str(out)]

    monkeypatch.setattr(fmnist_400, "row_command", command)


def test_rows_at_once_gives_each_row_a_core_of_its_own_and_returns_every_run(monkeypatch):
    _fake_rows(monkeypatch)
    cores = sorted(fmnist_400.os.sched_getaffinity(0))
    rows = [("teacher-student", 0), ("teacher-student", 12000)][:len(cores)]
    runs = fmnist_400.rows_at_once([], rows, 5)
    assert [r["row"] for r in runs] == [m for m, _ in rows]
    assert [r["core"] for r in runs] == cores[:len(rows)] and {r["seed"] for r in runs} == {5}
    with pytest.raises(ValueError, match="need as many cores"):
        fmnist_400.rows_at_once([], rows * (len(cores) + 1), 5)


def test_a_failed_row_process_stops_the_benchmark_naming_the_row(monkeypatch):
    _fake_rows(monkeypatch, exit_code=3)
    with pytest.raises(SystemExit, match="teacher-student"):
        fmnist_400.rows_at_once([], [("teacher-student", 0)], 0)


def test_a_pinned_process_runs_on_its_core_with_one_thread():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import os, fmnist_400, tensorflow as tf; fmnist_400.pin_to_core(0); "
            "print(sorted(os.sched_getaffinity(0)), "
            "tf.config.threading.get_intra_op_parallelism_threads(), "
            "tf.config.threading.get_inter_op_parallelism_threads())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(fmnist_400.__file__).parent, check=True)
    assert done.stdout.split("\n")[-2] == "[0] 1 1"


def test_a_one_core_table_says_each_run_had_one_core():
    runs = [_run("teacher-student", 0, 0.84)]
    info = {"command": "python benchmarks/fmnist_400.py", "date": "2026-12-06 12:00 UTC",
            "versions": {"keras": "3"}, "machine": {"cpu": "Xeon", "cores": 2, "ram_gib": 23.5}}
    assert "one core of its own" not in fmnist_400.table(runs, {**info, "settings": {}})
    text = fmnist_400.table(runs, {**info, "settings": {"one_core_each": True}})
    assert "Each run had one core of its own" in text and "one-core budget" in text
