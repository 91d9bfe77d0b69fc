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

    runs = [run("fixmatch", 1, 0.82), run("fixmatch", 0, 0.84), run("supervised", 0, 0.81)]
    info = {"settings": {"labels_per_class": 40}, "command": "python benchmarks/fmnist_400.py",
            "date": "2026-11-24 12:00 UTC", "versions": {"keras": "3"},
            "machine": {"cpu": "AMD EPYC", "cores": 2, "ram_gib": 23.5}}
    text = fmnist_400.table(runs, info)
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in text.splitlines()
            if line.startswith("| fixmatch") or line.startswith("| supervised")}
    assert rows["fixmatch"][1:4] == ["2", "0.830 ± 0.014", "0: 0.840, 1: 0.820"]
    assert rows["supervised"][1:4] == ["1", "0.810", "0: 0.810"]
    # the baseline accepts no pseudo-labels: its pseudo-label columns are empty, not 0
    assert rows["supervised"][7:9] == ["-", "-"]
    assert rows["fixmatch"][-2:] == ["2.0, 2.0", "30.0 |"]


def test_minutes_to_reach_is_the_first_point_at_or_above_the_level():
    curve = [[30.0, 0.5], [90.0, 0.81], [150.0, 0.79], [210.0, 0.85]]
    assert fmnist_400.minutes_to_reach(curve, 0.80) == 1.5
    assert fmnist_400.minutes_to_reach(curve, 0.85) == 3.5
    assert fmnist_400.minutes_to_reach(curve, 0.90) is None
