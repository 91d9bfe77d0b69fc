"""End-to-end tests of the command line: fit -> evaluate -> predict on a seed-format file.

They call `cli.main` in-process (the console script is a thin wrapper around it), plus one
subprocess check that `python -m fewlabels` works like the console script.
"""

import csv
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from fewlabels import cli
from fewlabels.data.builtin import load_builtin

FAST = ["--hidden-units", "16", "--epochs", "20", "--patience", "4", "--rounds", "1",
        "--finetune-epochs", "3", "--learning-rate", "0.01", "--verbose", "0"]


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory):
    """A whitespace-separated file in the seed format: wine, 10 labels per class, -1 else."""
    table = load_builtin("wine")
    x, y = table.x, table.y
    rng = np.random.default_rng(0)
    y_partial = np.full(len(y), -1)
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))[:10]
        y_partial[rows] = y[rows]
    folder = tmp_path_factory.mktemp("data")
    train = folder / "wine.txt"
    np.savetxt(train, np.column_stack([x, y_partial]), fmt="%g")
    test = folder / "wine_test.txt"
    np.savetxt(test, np.column_stack([x, y]), fmt="%g")
    features_only = folder / "wine_features.csv"
    np.savetxt(features_only, x[:7], fmt="%g", delimiter=",")
    return train, test, features_only


@pytest.fixture(scope="module")
def run_dir(seed_file, tmp_path_factory):
    train, _, _ = seed_file
    out = tmp_path_factory.mktemp("runs") / "run"
    assert cli.main(["fit", str(train), "--out", str(out), "--seed", "3",
                     "--method", "self-training", *FAST]) == 0
    return out


def test_fit_writes_every_run_file(run_dir):
    for name in ("model.keras", "config.json", "classes.json", "metrics.json", "history.json"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["params"]["seed"] == 3
    assert config["fewlabels_version"]
    assert config["method"] == "self-training"
    assert len(config["data_sha256"]) == 64
    assert json.loads((run_dir / "classes.json").read_text()) == [0, 1, 2]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    names = [r["name"] for r in metrics["results"]]
    assert names[0] == "supervised baseline" and names[-1] == "self-training"
    for r in metrics["results"]:
        assert 0.0 <= r["metrics"]["accuracy"] <= 1.0
        assert len(r["metrics"]["confusion_matrix"]) == 3
    history = json.loads((run_dir / "history.json").read_text())
    assert history["stages"][0]["stage"] == "initial"
    assert history["baseline"]["stages"][0]["stage"] == "initial"


def test_a_table_with_no_method_trains_the_table_ensemble_and_says_which_member_did_what(
        seed_file, tmp_path, capsys):
    train, _, _ = seed_file
    out = tmp_path / "run"
    start = time.perf_counter()
    assert cli.main(["fit", str(train), "--out", str(out), "--verbose", "0"]) == 0
    # seconds on a 178-row table, baseline included (most of it the network member's 600
    # FixMatch steps, and their first compilation in this process)
    assert time.perf_counter() - start < 30
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "table-ensemble" and config["estimator"] == "TableEnsemble"
    metrics = json.loads((out / "metrics.json").read_text())
    names = [r["name"] for r in metrics["results"]]
    assert names == ["supervised baseline", "  linear member", "  kernel member",
                     "  graph member", "  network member", "table-ensemble"]
    printed = capsys.readouterr().out
    assert "graph member" in printed and "Self-training rounds" in printed
    history = json.loads((out / "history.json").read_text())
    assert history["members"] == ["linear", "kernel", "graph", "network"]
    assert history["network"]["steps"] == 600
    assert history["baseline"]["members"] == ["linear", "kernel"]
    assert (out / "report.html").is_file()


def test_select_cv_says_which_member_won_and_why_on_screen_and_in_metrics(seed_file, tmp_path,
                                                                         capsys):
    train, _, _ = seed_file
    out = tmp_path / "run"
    assert cli.main(["fit", str(train), "--out", str(out), "--members", "linear,kernel,graph",
                     "--select", "cv", "--no-baseline"]) == 0
    choice = json.loads((out / "metrics.json").read_text())["results"][-1]["choice"]
    assert choice["rule"] == "cross-validation" and choice["winner"] in {
        "linear", "kernel", "graph", "average"}
    assert f"select=cv: {choice['winner']} has the best out-of-fold" in capsys.readouterr().out
    assert json.loads((out / "history.json").read_text())["choice"] == choice


def test_fit_prints_the_comparison_table(seed_file, tmp_path, capsys):
    train, test, _ = seed_file
    out = tmp_path / "run"
    code = cli.main(["fit", str(train), "--out", str(out), "--test", str(test),
                     "--method", "supervised", *FAST])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Test results" in printed and "supervised" in printed and "macro-F1" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == 178
    assert [r["name"] for r in metrics["results"]] == ["supervised"]


def test_fit_refuses_a_non_empty_run_dir_without_overwrite(seed_file, run_dir, capsys):
    train, _, _ = seed_file
    before = (run_dir / "model.keras").stat().st_mtime_ns
    assert cli.main(["fit", str(train), "--out", str(run_dir), "--method", "self-training",
                     *FAST]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--overwrite" in err
    assert (run_dir / "model.keras").stat().st_mtime_ns == before


def test_evaluate_prints_and_writes_metrics(run_dir, seed_file, capsys):
    _, test, _ = seed_file
    assert cli.main(["evaluate", str(run_dir), str(test)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "confusion matrix" in printed
    metrics = json.loads((run_dir / "evaluation.json").read_text())
    assert metrics["n"] == 178
    assert metrics["accuracy"] > 0.6


def test_predict_writes_class_and_probabilities_per_row(run_dir, seed_file, tmp_path):
    _, test, features_only = seed_file
    out = tmp_path / "preds.csv"
    assert cli.main(["predict", str(run_dir), str(test), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 178
    assert list(rows[0]) == ["row", "class", "p_0", "p_1", "p_2"]
    for row in rows[:5]:
        probs = [float(row[f"p_{c}"]) for c in range(3)]
        assert abs(sum(probs) - 1) < 1e-4
        assert int(row["class"]) == int(np.argmax(probs))
    # A file without a label column works too.
    out2 = tmp_path / "preds2.csv"
    assert cli.main(["predict", str(run_dir), str(features_only), "--out", str(out2)]) == 0
    assert len(list(csv.DictReader(out2.open()))) == 7


def test_bad_data_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,0\n3,oops,1\n4,5,-1\n")
    out = tmp_path / "run"
    assert cli.main(["fit", str(bad), "--out", str(out), "--method", "self-training",
                     *FAST]) == 2
    err = capsys.readouterr().err
    assert "fewlabels: error:" in err and "row 2, column 2" in err and "'oops'" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_bad_parameter_is_a_clear_error(seed_file, tmp_path, capsys):
    train, _, _ = seed_file
    code = cli.main(["fit", str(train), "--out", str(tmp_path / "r"), "--threshold", "2"])
    assert code == 2
    assert "threshold must be in [0.0, 1.0]; got 2.0" in capsys.readouterr().err


def test_every_command_explains_every_option_in_help(capsys):
    from fewlabels.workflow import methods

    parser = cli.build_parser()
    for command in ("fit", "evaluate", "predict", "demo"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = capsys.readouterr().out
        assert "usage: fewlabels" in text
    for method in [None, *methods()]:
        parser = cli.build_parser(fit_method=method)
        commands = next(a for a in parser._actions if a.dest == "command").choices
        for command, sub in commands.items():
            for action in sub._actions:
                if action.dest != "help":
                    assert action.help, (f"{method}: {command} "
                                         f"{action.option_strings or action.dest}: no help")


def test_each_method_has_its_own_options_and_a_flag_one_meaning():
    from fewlabels.cli_options import method_params
    from fewlabels.workflow import methods

    def help_of(method, flag):
        fit = next(a for a in cli.build_parser(fit_method=method)._actions
                   if a.dest == "command").choices["fit"]
        return next((a.help for a in fit._actions if flag in a.option_strings), None)

    assert "clamping" in help_of("table-ensemble", "--alpha")
    assert "Beta" in help_of("mixmatch", "--mixup-alpha")
    assert help_of("mixmatch", "--alpha") is None  # label spreading's name, not MixMatch's
    assert help_of("fixmatch", "--alpha") is None  # not a FixMatch option at all
    assert "students" in help_of("teacher-student", "--rounds")
    assert "rounds" in help_of("table-ensemble", "--rounds")
    for method in methods():  # no estimator option shadows an algorithm's of the same name
        names = [p.name for _, params, _ in method_params(method) for p in params]
        assert len(names) == len(set(names)), method


def test_an_option_of_another_method_is_refused_by_name(seed_file, tmp_path, capsys):
    train, _, _ = seed_file
    with pytest.raises(SystemExit) as raised:
        cli.main(["fit", str(train), "--out", str(tmp_path / "r"), "--method", "fixmatch",
                  "--alpha", "0.5"])
    assert raised.value.code == 2
    assert "unrecognized arguments: --alpha 0.5" in capsys.readouterr().err


def test_the_same_seed_gives_the_same_metrics(seed_file, run_dir, tmp_path):
    train, _, _ = seed_file
    again = tmp_path / "again"
    assert cli.main(["fit", str(train), "--out", str(again), "--seed", "3",
                     "--method", "self-training", *FAST]) == 0
    first = json.loads((run_dir / "metrics.json").read_text())["results"]
    second = json.loads((again / "metrics.json").read_text())["results"]
    strip = [{k: v for k, v in r.items() if k != "wall_s"} for r in first]
    assert strip == [{k: v for k, v in r.items() if k != "wall_s"} for r in second]


def test_python_dash_m_works_like_the_console_script():
    done = subprocess.run([sys.executable, "-m", "fewlabels", "--version"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("fewlabels ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--delimiter", "::"], "a delimiter is one character"),
        (["--header", "maybe"], "choose auto, yes or no; got 'maybe'"),
    ],
)
def test_bad_read_options_are_usage_errors(seed_file, tmp_path, capsys, args, message):
    train, _, _ = seed_file
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fit", str(train), "--out", str(tmp_path / "r"), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_encoding_is_a_clear_error(seed_file, tmp_path, capsys):
    train, _, _ = seed_file
    assert cli.main(["fit", str(train), "--out", str(tmp_path / "r"),
                     "--encoding", "klingon"]) == 2
    assert "unknown encoding 'klingon'" in capsys.readouterr().err


def test_predict_into_a_missing_folder_and_evaluate_without_labels(run_dir, seed_file,
                                                                   tmp_path, capsys):
    _, test, _ = seed_file
    assert cli.main(["predict", str(run_dir), str(test), "--out",
                     str(tmp_path / "nope" / "p.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("\n".join(" ".join(["1"] * 13) + " -1" for _ in range(3)) + "\n")
    assert cli.main(["evaluate", str(run_dir), str(unlabeled)]) == 2
    assert "no labeled rows to evaluate on" in capsys.readouterr().err


IMAGE_FAST = ["--method", "self-training", "--epochs", "3", "--min-steps", "0", "--rounds", "1",
              "--finetune-epochs", "1", "--batch-size", "16", "--verbose", "0"]


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    """Digits as PNG files: classes 0-2 in class folders (10 each), 15 in unlabeled/."""
    from fewlabels.testing.tables import digit_folder

    return digit_folder(tmp_path_factory.mktemp("images"))


def test_fit_predict_and_evaluate_on_an_image_folder(digit_folder, tmp_path, capsys,
                                                    monkeypatch):
    monkeypatch.setattr("fewlabels.progress.MIN_ITEMS", 10)  # bars for these small phases
    out = tmp_path / "run"
    assert cli.main(["fit", str(digit_folder), "--out", str(out), "--image-size", "8",
                     "--channels", "1", "--augment", "weak", *IMAGE_FAST, "--verbose", "1"]) == 0
    shown = capsys.readouterr().out
    assert "Checking 45 files:" in shown and "Decoding 30 labeled images:" in shown
    assert "Decoding 15 unlabeled images:" in shown and "45/45" in shown
    config = json.loads((out / "config.json").read_text())
    assert config["params"]["model"]["architecture"] == "auto"
    assert config["input_shape"] == [8, 8, 1]
    assert json.loads((out / "classes.json").read_text()) == ["d0", "d1", "d2"]
    assert config["read"]["image_size"] == 8 and len(config["data_sha256"]) == 64
    preds = tmp_path / "preds.csv"
    assert cli.main(["predict", str(out), str(digit_folder / "unlabeled"), "--out",
                     str(preds)]) == 0
    assert "Predicting 15 images:" in capsys.readouterr().out
    assert cli.main(["predict", str(out), str(digit_folder / "unlabeled"), "--out",
                     str(preds), "--verbose", "0"]) == 0
    assert "Predicting" not in capsys.readouterr().out
    rows = list(csv.DictReader(preds.open()))
    assert len(rows) == len(list((digit_folder / "unlabeled").iterdir()))
    assert rows[0]["path"].endswith(".png") and rows[0]["class"] in {"d0", "d1", "d2"}
    assert abs(sum(float(rows[0][f"p_d{c}"]) for c in range(3)) - 1) < 1e-4
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), str(digit_folder)]) == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["n"] == 30 and evaluation["n_skipped_unlabeled"] > 0
    table = tmp_path / "rows.csv"
    table.write_text("1,2,0\n")
    assert cli.main(["predict", str(out), str(table), "--out", str(tmp_path / "p2.csv")]) == 2
    assert "this model takes images of shape (8, 8, 1)" in capsys.readouterr().err


def test_a_bad_image_in_the_folder_is_named_before_training(digit_folder, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(digit_folder, data)
    (data / "d1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert cli.main(["fit", str(data), "--out", str(tmp_path / "run"), *IMAGE_FAST]) == 2
    err = capsys.readouterr().err
    assert "broken.png: corrupt or truncated image" in err and not (tmp_path / "run").exists()
    assert cli.main(["fit", str(data), "--out", str(tmp_path / "run"), "--on-bad-image", "skip",
                     "--image-size", "8", "--no-baseline", *IMAGE_FAST]) == 0
    assert "skipping 1 bad image" in capsys.readouterr().err


def test_fit_an_npz_with_labels_per_class_and_a_transfer_backbone(tmp_path, capsys):
    from fewlabels.data.images import load_image_dataset

    digits = load_image_dataset("digits")
    np.savez(tmp_path / "d.npz", x=digits.x[:300], y=digits.y[:300])
    np.savez(tmp_path / "t.npz", x=digits.x_test[:60], y=digits.y_test[:60])
    out = tmp_path / "run"
    assert cli.main(["fit", str(tmp_path / "d.npz"), "--out", str(out), "--test",
                     str(tmp_path / "t.npz"), "--labels-per-class", "3", "--backbone", "cnn",
                     "--weights", "none", "--no-baseline", "--threshold", "0",
                     *IMAGE_FAST]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["labels_per_class"] == 3 and config["params"]["model"]["backbone"] == "cnn"
    history = json.loads((out / "history.json").read_text())
    assert "phases" not in history["stages"][0]  # no pretrained weights: it trains whole
    assert history["stages"][0]["rows"] == 20  # 3 per class, 1 of each held for validation
    assert "pseudo_label_accuracy" in history["rounds"][0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"] == {"source": "given", "n": 60}


def test_image_options_are_refused_clearly(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 8, 8), np.uint8), y=np.array([0, 1] * 3))
    np.savez(tmp_path / "u.npz", x=np.zeros((3, 8, 8), np.uint8), y=np.array([0, -1, 1]))
    assert cli.main(["fit", str(tmp_path / "d.npz"), "--test", str(tmp_path / "u.npz"),
                     "--out", str(tmp_path / "r"), *IMAGE_FAST]) == 2
    assert "every test row needs a label (first at image 1)" in capsys.readouterr().err
    assert cli.main(["fit", str(tmp_path / "d.npz"), "--labels-per-class", "0",
                     "--test", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r"),
                     *IMAGE_FAST]) == 2
    assert "labels_per_class must be an integer >= 1; got 0" in capsys.readouterr().err
    assert cli.main(["fit", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r"),
                     "--image-size", "16", *IMAGE_FAST]) == 2
    assert "images are 8x8, not 16x16" in capsys.readouterr().err
    assert cli.main(["fit", str(tmp_path / "d.npz"), "--out", str(tmp_path / "r"),
                     "--model", "mlp", *IMAGE_FAST]) == 2
    assert "model='mlp' takes feature rows" in capsys.readouterr().err


def test_fit_with_a_consistency_method_and_its_hyperparameters(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["fit", "digits", "--labels-per-class", "3", "--method", "fixmatch",
                     "--threshold", "0.7", "--steps", "20", "--steps-per-epoch", "10",
                     "--batch-size", "8", "--uratio", "2", "--verbose", "0",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "supervised baseline" in printed and "fixmatch" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["estimator"] == "ConsistencyTraining"
    assert config["params"]["algorithm_params"] == {"threshold": 0.7}
    history = json.loads((out / "history.json").read_text())
    assert history["algorithm"]["threshold"] == 0.7 and len(history["epochs"]["mask_rate"]) == 2
    assert history["baseline"]["method"] == "supervised"
    assert cli.main(["predict", str(out), "digits", "--out", str(tmp_path / "p.csv")]) == 0
    with pytest.raises(SystemExit) as raised:  # argparse's refusal: not a FixMatch option
        cli.main(["fit", "digits", "--method", "fixmatch", "--rounds", "2",
                  "--out", str(tmp_path / "r2")])
    assert raised.value.code == 2
    assert "unrecognized arguments: --rounds 2" in capsys.readouterr().err


def test_fit_teacher_student_then_predict_and_evaluate_with_tta(tmp_path, capsys):
    out = tmp_path / "run"
    fast = ["--labels-per-class", "3", "--steps", "40", "--steps-per-epoch", "10",
            "--batch-size", "8", "--uratio", "2", "--cnn-widths", "4,8", "--verbose", "0"]
    assert cli.main(["fit", "digits", "--method", "teacher-student", "--teacher", "freematch",
                     "--teacher-share", "0.5", "--targets", "hard", "--lambda-f", "0.02",
                     "--no-horizontal-flip", "--no-baseline", *fast, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "teacher (freematch)" in printed and "teacher-student" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["estimator"] == "TeacherStudent" and config["method"] == "teacher-student"
    teacher = config["params"]["teacher"]
    assert teacher["params"]["method"] == "freematch" and config["params"]["targets"] == "hard"
    assert teacher["params"]["algorithm_params"] == {"lambda_f": 0.02}  # the teacher's
    history = json.loads((out / "history.json").read_text())
    assert history["steps_plan"] == [20, 20]
    assert [s["stage"] for s in history["stages"]] == ["teacher", "student 1"]
    assert 0.0 <= history["stages"][0]["labels"]["accuracy"] <= 1.0  # hidden labels known
    # digits are not mirrored in training (--no-horizontal-flip), so test-time flips are refused
    assert cli.main(["evaluate", str(out), "digits", "--tta"]) == 2
    assert "trained with horizontal_flip off" in capsys.readouterr().err
    # the run's config.json gives the same method and teacher back
    assert cli.main(["fit", "--config", str(out / "config.json"), "--out",
                     str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert again["params"] == config["params"] and again["method"] == "teacher-student"
    assert cli.main(["fit", "digits", "--method", "teacher-student", "--teacher", "supervised",
                     *fast, "--out", str(tmp_path / "bad")]) == 2
    assert "teacher must be a consistency algorithm" in capsys.readouterr().err


def test_tta_averages_mirror_images_in_predict_and_evaluate(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (80, 8, 8, 1)).astype(np.uint8)
    y = np.where(np.arange(80) < 20, np.arange(80) % 2, -1)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.savez(tmp_path / "t.npz", x=x[:20], y=y[:20])
    out = tmp_path / "run"
    assert cli.main(["fit", str(tmp_path / "d.npz"), "--method", "fixmatch", "--steps", "10",
                     "--steps-per-epoch", "10", "--batch-size", "8", "--uratio", "2",
                     "--no-baseline", "--test", str(tmp_path / "t.npz"), "--verbose", "0",
                     "--out", str(out)]) == 0
    for tta in ([], ["--tta"]):
        assert cli.main(["predict", str(out), str(tmp_path / "t.npz"), "--out",
                         str(tmp_path / f"p{len(tta)}.csv"), *tta]) == 0
        assert cli.main(["evaluate", str(out), str(tmp_path / "t.npz"), "--out",
                         str(tmp_path / f"e{len(tta)}.json"), *tta]) == 0
    from fewlabels.estimators import load_estimator

    model = load_estimator(out)
    expected = (model.predict_proba(x[:20]) + model.predict_proba(x[:20, :, ::-1])) / 2
    with_tta = np.loadtxt(tmp_path / "p1.csv", delimiter=",", skiprows=1, usecols=(2, 3))
    np.testing.assert_allclose(with_tta, expected, atol=1e-6)
    assert json.loads((tmp_path / "e1.json").read_text())["tta"] is True


def test_methods_lists_every_method_with_a_line_each(capsys):
    from fewlabels.algorithms import get, names

    assert cli.main(["methods"]) == 0
    printed = capsys.readouterr().out
    methods = [n for n in names() if not get(n).needs_targets]  # distill: a stage, not one
    for name in ["self-training", "teacher-student", *methods]:
        assert name in printed
    assert "threshold=0.95" in printed and "distill" not in printed


@pytest.mark.parametrize("error, code", [
    ("InputError", 2), ("NotFittedError", 2), ("ResumeMismatchError", 2),
    ("NonFiniteLossError", 3), ("StorageError", 4), ("CheckpointError", 4),
    ("TrainingInterruptedError", 143),
])
def test_each_kind_of_failure_has_its_own_exit_code(error, code, monkeypatch, capsys):
    from fewlabels import errors, workflow

    def fail(*args, **kwargs):
        raise getattr(errors, error)("what went wrong")

    monkeypatch.setattr(workflow, "fit_run", fail)
    assert cli.main(["fit", "data.csv", "--out", "run"]) == code
    err = capsys.readouterr().err
    assert "what went wrong" in err and len(err.strip().splitlines()) == 1


def test_an_os_error_is_one_line_naming_the_file_and_exit_code_4(monkeypatch, capsys):
    from fewlabels import workflow

    def fail(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/data/locked.csv")

    monkeypatch.setattr(workflow, "fit_run", fail)
    assert cli.main(["fit", "data.csv", "--out", "run"]) == 4
    assert capsys.readouterr().err.strip() == (
        "fewlabels: error: /data/locked.csv: Permission denied")


@pytest.mark.parametrize("argv", [
    ["--help"], ["fit", "--help"], ["fit", "--method", "mixmatch", "--help"],
    ["fit", "digits", "--help"], ["methods"],
])
def test_help_and_methods_import_no_tensorflow_and_answer_at_once(argv):
    code = ("import sys, time, contextlib, io; t = time.time(); from fewlabels import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            f"        cli.main({argv!r})\n"
            "    except SystemExit:\n"
            "        pass\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'\n"
            "print(time.time() - t)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
    assert float(done.stdout) < 1.0


@pytest.mark.parametrize("args, message", [
    (["fit", "{bad}", "--out", "{run}"], "row 2, column 2 ('column_2'): 'x' is not a number"),
    (["fit", "{bad}", "--out", "{run}", "--seed", "-1"], "seed must be in [0, 4294967295]"),
    (["evaluate", "{run}", "{bad}"], "no such run directory"),
])
def test_a_bad_input_is_one_line_on_stderr_and_exit_code_2(tmp_path, args, message):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,0\n3,x,1\n")
    args = [a.format(bad=bad, run=tmp_path / "run") for a in args]
    done = subprocess.run([sys.executable, "-m", "fewlabels", *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fewlabels: error: "), done.stderr[-800:]
    assert message in lines[0]


@pytest.mark.parametrize("backend, message", [
    ("mxnet", "KERAS_BACKEND='mxnet' is not a Keras backend fewlabels runs on"),
    ("torch", "KERAS_BACKEND=torch but torch is not installed"),
])
def test_a_backend_that_cannot_run_is_one_line_not_a_traceback(backend, message):
    import importlib.util
    import os

    if backend == "torch" and importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    done = subprocess.run([sys.executable, "-m", "fewlabels", "methods"], capture_output=True,
                          text=True, env={**os.environ, "KERAS_BACKEND": backend}, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"fewlabels: error: {message}" + (
        "; use tensorflow (the default) or jax." if backend == "mxnet" else ".")]


def test_default_output_is_one_short_line_per_epoch_without_per_class_columns(tmp_path,
                                                                            capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    labels = np.array(["a", "b", "c", "d"])[(x[:, 0] > 0) * 2 + (x[:, 1] > 0)].astype(object)
    labels[40:] = "?"
    table = tmp_path / "t.csv"
    table.write_text("".join(",".join(f"{v:.3f}" for v in row) + f",{label}\n"
                             for row, label in zip(x, labels, strict=True)))
    assert cli.main(["fit", str(table), "--out", str(tmp_path / "r"), "--method", "fixmatch",
                     "--steps", "30", "--steps-per-epoch", "10", "--hidden-units", "8"]) == 0
    epochs = [line for line in capsys.readouterr().out.splitlines()
              if line.startswith("epoch ")]
    assert len(epochs) == 6  # 3 for fixmatch, 3 for its baseline
    assert all(len(line) < 140 and "share_" not in line for line in epochs)
    assert "pseudo_label_accuracy" not in "\n".join(epochs)  # no hidden labels here
    baseline_losses = [float(line.split("loss ")[1].split()[0]) for line in epochs[3:]]
    assert all(loss > 0 for loss in baseline_losses)  # the baseline's loss is logged


def test_fit_takes_the_augmentation_options_and_records_them(tmp_path):
    from fewlabels.data.images import load_image_dataset

    digits = load_image_dataset("digits")
    np.savez(tmp_path / "d.npz", x=digits.x[:200], y=digits.y[:200])
    out = tmp_path / "run"
    assert cli.main(["fit", str(tmp_path / "d.npz"), "--out", str(out), "--augment", "classic",
                     "--no-horizontal-flip", "--rotation", "5", "--labels-per-class", "3",
                     "--no-baseline", *IMAGE_FAST]) == 0
    params = json.loads((out / "config.json").read_text())["params"]
    assert params["augment_params"] == {"horizontal_flip": False, "rotation": 5.0}


def test_predictions_neutralize_cells_a_spreadsheet_would_run_as_formulas(tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (30, 2)), rng.normal(4, 1, (30, 2))])
    labels = ["=HYPERLINK(\"http://x\")"] * 30 + ["@SUM(1)"] * 30
    data = tmp_path / "data.csv"
    lines = ["a,b,label"] + [f"{u:.3f},{v:.3f},{lab if i % 3 == 0 else '?'}"
                             for i, ((u, v), lab) in enumerate(zip(x, labels, strict=True))]
    data.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    assert cli.main(["fit", str(data), "--out", str(run), "--members", "linear",
                     "--verbose", "0"]) == 0
    out = tmp_path / "preds.csv"
    assert cli.main(["predict", str(run), str(data), "--out", str(out)]) == 0
    classes = {row["class"] for row in csv.DictReader(out.open())}
    assert classes == {"'=HYPERLINK(\"http://x\")", "'@SUM(1)"}  # text, not formulas


def test_an_unknown_method_is_one_line_naming_the_methods(tmp_path, capsys):
    assert cli.main(["fit", "digits", "--method", "fixmath", "--out", str(tmp_path / "r")]) == 2
    assert "method must be one of ['auto', 'table-ensemble'" in capsys.readouterr().err


def test_fit_strategy_runs_the_fit_in_a_mirrored_scope_and_refuses_multi_worker(
        seed_file, tmp_path, capsys):
    train, _, _ = seed_file
    out = tmp_path / "run"
    assert cli.main(["fit", str(train), "--out", str(out), "--method", "fixmatch", "--steps",
                     "20", "--strategy", "mirrored", "--no-baseline", "--verbose", "0"]) == 0
    assert json.loads((out / "config.json").read_text())["strategy"] == "mirrored"
    code = cli.main(["fit", str(train), "--out", str(tmp_path / "r2"), "--strategy",
                     "multi-worker"])
    assert code == 2 and "keras-team/keras#20585" in capsys.readouterr().err
