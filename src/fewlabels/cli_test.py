"""End-to-end tests of the command line: fit -> evaluate -> predict on a seed-format file.

They call `cli.main` in-process (the console script is a thin wrapper around it), plus one
subprocess check that `python -m fewlabels` works like the console script.
"""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from fewlabels import cli
from fewlabels.data.builtin import load_builtin

FAST = ["--hidden-units", "16", "--epochs", "20", "--patience", "4", "--rounds", "1",
        "--finetune-epochs", "3", "--learning-rate", "0.01", "--verbose", "0"]


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory):
    """A whitespace-separated file in the seed format: wine, 10 labels per class, -1 else."""
    x, y, _ = load_builtin("wine")
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
    assert cli.main(["fit", str(train), "--out", str(out), "--seed", "3", *FAST]) == 0
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
    assert history["baseline_stages"][0]["stage"] == "initial"


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
    assert cli.main(["fit", str(train), "--out", str(run_dir), *FAST]) == 2
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
    assert cli.main(["fit", str(bad), "--out", str(out), *FAST]) == 2
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
    parser = cli.build_parser()
    for command in ("fit", "evaluate", "predict", "demo"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = capsys.readouterr().out
        assert "usage: fewlabels" in text
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for command, sub in commands.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{command} {action.option_strings or action.dest}: no help"


def test_the_same_seed_gives_the_same_metrics(seed_file, run_dir, tmp_path):
    train, _, _ = seed_file
    again = tmp_path / "again"
    assert cli.main(["fit", str(train), "--out", str(again), "--seed", "3", *FAST]) == 0
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
