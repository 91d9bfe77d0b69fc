"""The open-set benchmark's splits and table."""

from __future__ import annotations

import numpy as np
import open_set


def test_an_image_split_takes_its_test_rows_from_the_known_classes_of_the_test_set():
    y = np.repeat(np.arange(10), 50)
    y_test = np.repeat(np.arange(10), 7)
    labeled, known, foreign, test = open_set.split(y, 4, 0.5, seed=0, unlabeled_known=60,
                                                   y_test=y_test)
    assert len(labeled) == 24 and set(y[labeled]) == set(open_set.KNOWN)
    assert len(known) == 60 and not np.intersect1d(known, labeled).size
    assert len(foreign) == 60 and not np.isin(y[foreign], open_set.KNOWN).any()
    assert np.array_equal(test, np.flatnonzero(y_test < 6))  # every known test image


def test_a_row_split_holds_out_known_rows_as_its_test_set():
    y = np.repeat(np.arange(10), 50)
    labeled, known, foreign, test = open_set.split(y, 4, 0.25, seed=0, unlabeled_known=90)
    assert len(foreign) == 30  # a quarter of the unlabeled pool
    assert np.isin(y[test], open_set.KNOWN).all()
    assert not np.intersect1d(test, np.concatenate([labeled, known])).size


def test_the_table_without_the_filter_has_no_filter_columns():
    def run(method, n, fraction, accuracy):
        return {"method": method, "labels_per_class": n, "foreign_fraction": fraction,
                "seed": 0, "test_accuracy": accuracy, "n_foreign": int(fraction * 200),
                "n_unlabeled_known": 100, "auroc_max_softmax": 0.8 if fraction else np.nan,
                "listed_foreign": 10, "listed_known": 5, "model": "fixmatch", "steps": 1000,
                "uratio": 3}

    runs = [run(v, 4, f, a) for f, a in ((0.0, 0.80), (0.5, 0.77))
            for v in ("as is", "oracle")]
    info = {"command": "python benchmarks/open_set.py", "date": "2026-12-06 12:00 UTC",
            "versions": {"keras": "3"}, "machine": {"cpu": "Xeon", "cores": 2,
                                                    "ram_gib": 23.5}}
    text = open_set.table(runs, info)
    assert "filter" not in text.split("\n")[0] and "energy" not in text.split("\n")[0]
    assert "| 4 | 50% | 0.7700 | 0.7700 | -3.0 pt | 0.800 | 10 of 100 / 5 of 100 |" in text
    assert "fixmatch on the 16-32-64 CNN, 1,000 steps" in text
    for r in runs:  # a network's run lists its items by the energy, measured beside
        r.update(auroc_energy=0.9 if r["foreign_fraction"] else None, listed_by="energy")
    text = open_set.table(runs, info)
    assert "| AUROC of energy | the run's suspected list (energy): foreign" in text
    assert "| 4 | 50% | 0.7700 | 0.7700 | -3.0 pt | 0.800 | 0.900 | 10 of 100 / 5 of 100 |" \
        in text


def test_rows_fit_the_table_ensemble_or_a_method_as_the_ensembles_network_member_trains():
    from types import SimpleNamespace

    from fewlabels import ConsistencyTraining, TableEnsemble
    from fewlabels.estimators.ensemble import NETWORK_STEPS

    args = SimpleNamespace(dataset="digits", method=open_set.TABLE_DEFAULT)
    assert type(open_set.make_model(args, 0)) is TableEnsemble
    args.method = "table-ensemble (select=cv)"
    assert open_set.make_model(args, 0).select == "cv"
    args.method = "iomatch"
    model = open_set.make_model(args, 1)
    assert type(model) is ConsistencyTraining and model.method == "iomatch"
    assert model.budget.steps == NETWORK_STEPS and model.optimizer.name == "adam"
    assert model.seed == 1
