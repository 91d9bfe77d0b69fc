"""A run scores its unlabeled pool for items of no known class: suspected.csv, metrics.json's
`open_set`, the report's section, and `predict --unknown`."""

import csv
import html
import json

import numpy as np
import pytest

from fewlabels import cli
from fewlabels.errors import InputError
from fewlabels.workflow import fit_run, predict_run

FOREIGN = range(121, 141)  # the 1-based lines of the foreign rows


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two known classes, 40 labels, 80 unlabeled known rows and 20 rows of a third, far
    class in the pool."""
    root = tmp_path_factory.mktemp("open_set")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (60, 3)), rng.normal(4, 1, (60, 3)),
                        rng.normal([8, -8, 0], 0.5, (20, 3))])
    names = ["a"] * 60 + ["b"] * 60 + ["?"] * 20
    labels = [n if i % 3 == 0 else "?" for i, n in enumerate(names)]
    data = root / "data.csv"
    data.write_text("".join(",".join(f"{v:.3f}" for v in row) + f",{label}\n"
                            for row, label in zip(x, labels, strict=True)))
    result = fit_run(data, root / "run", members=("linear", "kernel", "graph"), rounds=1)
    return result, data


def test_the_run_lists_the_foreign_rows_as_the_least_known(run):
    result, _ = run
    record = result.open_set
    assert record["pool"] == 100 and record["key"] == "row"
    assert record["threshold_from"] == "test rows (8)"
    assert record["suspected"] >= 20
    assert record == json.loads((result.run_dir / "metrics.json").read_text())["open_set"]
    with open(result.run_dir / "suspected.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == record["suspected"]
    assert {int(r["row"]) for r in rows[:20]} == set(FOREIGN)
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores) and max(scores) < record["threshold"]
    assert [r["item"] for r in record["shown"]] == [r["row"] for r in rows[:20]]
    page = (result.run_dir / "report.html").read_text()
    assert "Suspected foreign items" in page and f"<td>{rows[0]['row']}</td>" in page
    # a fifth of the pool is foreign: the average of the members is advised select="cv"
    assert record["advice"].startswith(f"{record['suspected']}% of the pool looks foreign")
    assert "--select cv" in record["advice"] and html.escape(record["advice"]) in page


def test_the_command_line_says_how_many_items_look_foreign_and_what_to_do(run, tmp_path,
                                                                           capsys):
    _, data = run
    assert cli.main(["fit", str(data), "--out", str(tmp_path / "run"), "--members",
                     "linear,graph", "--no-baseline", "--verbose", "0"]) == 0
    said = capsys.readouterr().out
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())["open_set"]
    assert (f"Open set: {record['suspected']} of the 100 unlabeled items score below the "
            "open-set threshold (max-softmax): suspected.csv lists them. ") in said
    assert "--select cv (select=\"cv\") kept the known classes' accuracy" in said
    assert cli.main(["fit", str(data), "--out", str(tmp_path / "cv"), "--members",
                     "linear,graph", "--select", "cv", "--no-baseline", "--verbose", "0"]) == 0
    said = capsys.readouterr().out
    assert "Open set: " in said and "--select cv" not in said  # chosen already


def _predicted_with_unknown(run_dir, data, tmp_path) -> list[dict]:
    """`fewlabels predict RUN DATA --unknown`'s rows."""
    out = tmp_path / "p.csv"
    assert cli.main(["predict", str(run_dir), str(data), "--out", str(out), "--unknown",
                     "--verbose", "0"]) == 0
    with open(out, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_predict_unknown_names_the_items_below_the_runs_threshold(run, tmp_path):
    result, data = run
    rows = _predicted_with_unknown(result.run_dir, data, tmp_path)
    threshold = result.open_set["threshold"]
    for row in rows:
        top = max(float(v) for k, v in row.items() if k.startswith("p_"))
        assert (row["class"] == "unknown") == (top < threshold), row
    assert all(rows[i - 1]["class"] == "unknown" for i in FOREIGN)
    assert predict_run(result.run_dir, data, tmp_path / "q.csv", unknown=0.0) == len(rows)
    with open(tmp_path / "q.csv", encoding="utf-8") as f:
        assert "unknown" not in f.read()  # nothing is below 0


def test_a_bad_unknown_threshold_is_refused_at_the_door(run, tmp_path, capsys):
    result, data = run
    assert cli.main(["predict", str(result.run_dir), str(data), "--out",
                     str(tmp_path / "p.csv"), "--unknown", "1.5"]) == 2
    assert "unknown must be a threshold in [0, 1] (or True: the run's); got 1.5" in \
        capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_a_run_without_a_threshold_asks_for_one(run, tmp_path):
    result, data = run
    old = tmp_path / "old"
    old.mkdir()
    for name in ("model.keras", "classes.json", "config.json"):
        (old / name).write_bytes((result.run_dir / name).read_bytes())
    (old / "metrics.json").write_text(json.dumps({"results": []}))
    with pytest.raises(InputError, match=r"recorded no open-set threshold .* --unknown 0\.6"):
        predict_run(old, data, tmp_path / "p.csv", unknown=True)


def test_a_class_named_unknown_cannot_be_told_from_the_unknown_items(tmp_path):
    rng = np.random.default_rng(1)
    data = tmp_path / "d.csv"
    data.write_text("".join(f"{v:.3f},{'unknown' if i < 30 else 'known'}\n"
                            for i, v in enumerate(rng.normal(size=60))))
    result = fit_run(data, tmp_path / "run", members=("linear",), rounds=0, baseline=False)
    with pytest.raises(InputError, match="a class is named 'unknown'"):
        predict_run(result.run_dir, data, tmp_path / "p.csv", unknown=0.5)


@pytest.fixture(scope="module")
def network_run(run, tmp_path_factory):
    """The same table, fitted by FixMatch on the rows: a network, with logits."""
    from fewlabels import Budget

    _, data = run
    result = fit_run(data, tmp_path_factory.mktemp("open_set_network") / "run",
                     method="fixmatch", budget=Budget(60), baseline=False)
    return result, data


def test_a_network_run_reads_foreign_items_by_the_energy_of_its_logits(network_run):
    result, _ = network_run
    record = result.open_set
    assert record["score"] == "energy" and record["pool"] == 100
    assert record["advice"] is None  # select="cv" is the table ensemble's
    with open(result.run_dir / "suspected.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == record["suspected"] > 0
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores) and max(scores) < record["threshold"]
    assert "the energy that 95% of the test rows (8) reach" in \
        (result.run_dir / "report.html").read_text()


def test_predict_unknown_applies_the_runs_energy_threshold(network_run, tmp_path):
    from fewlabels.estimators import load_estimator
    from fewlabels.novelty import energy_scores

    result, data = network_run
    rows = _predicted_with_unknown(result.run_dir, data, tmp_path)
    x = np.loadtxt(data, delimiter=",", usecols=(0, 1, 2))
    energy = energy_scores(load_estimator(result.run_dir).logits(x))
    below = energy < result.open_set["threshold"]
    assert below.any() and not below.all()
    assert [r["class"] == "unknown" for r in rows] == below.tolist()


def test_a_run_recording_a_score_fewlabels_does_not_read_is_named(run, tmp_path):
    result, data = run
    odd = tmp_path / "odd"
    odd.mkdir()
    for name in ("model.keras", "classes.json", "config.json"):
        (odd / name).write_bytes((result.run_dir / name).read_bytes())
    (odd / "metrics.json").write_text(json.dumps(
        {"open_set": {**result.open_set, "score": "mahalanobis"}}))
    with pytest.raises(InputError, match="open_set's score is 'mahalanobis'; fewlabels reads "
                                         "'max-softmax' or 'energy'"):
        predict_run(odd, data, tmp_path / "p.csv", unknown=True)
