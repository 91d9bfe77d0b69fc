"""`fewlabels suggest`: picks written for an annotator, and `fit --labels` taking them back."""

import csv
import json

import numpy as np
import pytest

from fewlabels import cli
from fewlabels.data.builtin import load_builtin
from fewlabels.errors import FewLabelsError
from fewlabels.testing.tables import digit_folder, partly_labeled_wine
from fewlabels.workflow.suggest import suggest_run

FAST = ["--method", "self-training", "--epochs", "3", "--min-steps", "0", "--rounds", "1",
        "--finetune-epochs", "1", "--batch-size", "16", "--no-baseline", "--verbose", "0",
        "--seed", "0"]


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("wine")
    table = partly_labeled_wine(root, per_class=3)
    assert cli.main(["fit", str(table), "--out", str(root / "r1"), *FAST]) == 0
    return table, root / "r1"


def filled(picks, out, truth) -> None:
    """The picks file with its label column filled in from the hidden labels."""
    rows = list(csv.DictReader(picks.open()))
    for row in rows:
        row["label"] = str(truth[int(row["row"]) - 1])
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_suggest_writes_unlabeled_rows_best_first_and_fit_takes_the_labels_back(
        wine_run, tmp_path, capsys):
    table, run = wine_run
    picks = tmp_path / "picks.csv"
    assert cli.main(["suggest", str(run), str(table), "--budget", "6", "--out",
                     str(picks)]) == 0
    assert f"Wrote 6 picks (diverse-margin) to {picks}" in capsys.readouterr().out
    rows = list(csv.DictReader(picks.open()))
    assert list(rows[0]) == ["row", "label", "score", "predicted", "confidence", "rank"]
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    scores = [float(r["score"]) for r in rows]
    assert all(0 < s <= 1 for s in scores)  # (1 - margin) times a share of the distance
    lines = table.read_text().splitlines()
    assert all(lines[int(r["row"]) - 1].split()[-1] == "-1" for r in rows)  # unlabeled rows
    assert all(r["label"] == "" and r["predicted"] in {"0", "1", "2"} for r in rows)
    answered = tmp_path / "answered.csv"
    filled(picks, answered, load_builtin("wine").y)
    out = tmp_path / "r2"
    assert cli.main(["fit", str(table), "--out", str(out), "--labels", str(answered),
                     *FAST]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == [str(answered)] and config["labels_added"] == 6
    # The next round reads the data as r2 did, the merged labels included: new picks.
    again = suggest_run(out, table, tmp_path / "again.csv", budget=6)
    assert not {int(r["row"]) - 1 for r in rows} & set(again.indices)


@pytest.mark.parametrize("strategy", ["margin", "entropy", "k-center", "typical", "random"])
def test_every_strategy_picks_distinct_unlabeled_rows(wine_run, tmp_path, strategy):
    table, run = wine_run
    picks = suggest_run(run, table, tmp_path / "p.csv", budget=8, strategy=strategy)
    labels = np.loadtxt(table)[:, -1]
    assert len(set(picks.indices)) == 8 and all(labels[picks.indices] == -1)


def test_a_label_that_contradicts_the_data_stops_fit_naming_the_line(wine_run, tmp_path,
                                                                     capsys):
    table, _ = wine_run
    labeled = int(np.flatnonzero(np.loadtxt(table)[:, -1] == 0)[0]) + 1
    bad = tmp_path / "bad.csv"
    bad.write_text(f"row,label\n{labeled},2\n")
    assert cli.main(["fit", str(table), "--out", str(tmp_path / "r"), "--labels", str(bad),
                     *FAST]) != 0
    assert (f"bad.csv, line 2: row '{labeled}' is labelled '2', but the data labels it '0'"
            in capsys.readouterr().err)
    with pytest.raises(FewLabelsError, match="budget must be a whole number from 1 to the "
                                             "169 unlabeled items; got 500"):
        suggest_run(wine_run[1], table, tmp_path / "p.csv", budget=500)
    full = tmp_path / "labeled.txt"
    rows = np.loadtxt(table)
    rows[:, -1] = load_builtin("wine").y
    np.savetxt(full, rows, fmt="%g")
    with pytest.raises(FewLabelsError, match="every item is labeled; there is nothing to "
                                             "suggest"):
        suggest_run(wine_run[1], full, tmp_path / "p.csv", budget=5)


def test_suggest_on_an_image_folder_names_files_inside_it(tmp_path):
    from fewlabels.workflow import fit_run

    folder = digit_folder(tmp_path)
    fit_run(folder, tmp_path / "r1", method="self-training", image_size=8, channels=1,
            epochs=2, min_steps=0, rounds=1, finetune_epochs=1, batch_size=16,
            baseline=False, seed=0)
    picks = tmp_path / "picks.csv"
    suggest_run(tmp_path / "r1", folder, picks, budget=4, strategy="k-center")
    rows = list(csv.DictReader(picks.open()))
    assert len(rows) == 4 and all(r["path"].startswith("unlabeled/") for r in rows)
    assert all((folder / r["path"]).is_file() for r in rows)
    for row in rows:
        row["label"] = "d1"
    with picks.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = fit_run(folder, tmp_path / "r2", method="self-training", image_size=8,
                     channels=1, epochs=2, min_steps=0, rounds=1, finetune_epochs=1,
                     batch_size=16, baseline=False, seed=0, labels=picks)
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["labels_added"] == 4


def test_before_any_model_a_pretrained_body_picks_the_first_labels(wine_run, tmp_path, capsys):
    table, _ = wine_run
    body = tmp_path / "body.weights.h5"
    assert cli.main(["pretrain", str(table), "--out", str(body), "--steps", "20",
                     "--batch-size", "32", "--hidden-units", "16", "--verbose", "0"]) == 0
    picks = tmp_path / "first.csv"
    assert cli.main(["suggest", str(body), str(table), "--budget", "6", "--out",
                     str(picks)]) == 0
    assert f"Wrote 6 picks (typical) to {picks}" in capsys.readouterr().out
    rows = list(csv.DictReader(picks.open()))
    lines = table.read_text().splitlines()
    assert all(lines[int(r["row"]) - 1].split()[-1] == "-1" for r in rows)  # unlabeled rows
    assert len({r["row"] for r in rows}) == 6
    assert all(r["predicted"] == "" and r["confidence"] == "" for r in rows)  # no classes
    answered = tmp_path / "answered.csv"
    filled(picks, answered, load_builtin("wine").y)
    assert cli.main(["fit", str(table), "--out", str(tmp_path / "r"), "--labels",
                     str(answered), *FAST]) == 0
    # what needs a classifier is refused by name, and so is a body without its record
    assert cli.main(["suggest", str(body), str(table), "--budget", "6", "--out",
                     str(tmp_path / "m.csv"), "--strategy", "margin"]) == 2
    assert "a pretrained body has no classes to be unsure of" in capsys.readouterr().err
    assert cli.main(["suggest", str(body), str(table), "--budget", "6", "--out",
                     str(tmp_path / "body.pretrain.json")]) == 2
    assert "is the pretrained body's own file" in capsys.readouterr().err
    (tmp_path / "body.pretrain.json").unlink()
    assert cli.main(["suggest", str(body), str(table), "--budget", "6", "--out",
                     str(tmp_path / "n.csv")]) == 2
    assert "no body.pretrain.json beside it" in capsys.readouterr().err
