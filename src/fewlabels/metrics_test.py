"""Tests for the classification metrics against hand-computed values and scikit-learn."""

import numpy as np
from sklearn.metrics import f1_score, log_loss

from fewlabels.metrics import classification_metrics


def test_metrics_match_hand_computed_values():
    y = np.array([0, 0, 1, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    m = classification_metrics(y, proba, ["a", "b", "c"])
    assert m["n"] == 4
    assert m["accuracy"] == 0.75
    assert np.isclose(m["loss"], log_loss(y, proba))
    assert np.isclose(m["macro_f1"], f1_score(y, proba.argmax(1), average="macro"))
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert m["per_class"]["b"]["precision"] == 0.5
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_a_class_absent_from_the_test_rows_keeps_its_row_and_is_left_out_of_macro_f1():
    y = np.array([0, 1])
    proba = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    m = classification_metrics(y, proba, ["a", "b", "c"])
    assert m["macro_f1"] == 1.0
    assert m["per_class"]["c"]["support"] == 0
    assert len(m["confusion_matrix"]) == 3


def test_calibration_bins_and_ece_by_hand():
    from fewlabels.metrics import calibration

    proba = np.array([[0.95, 0.05], [0.95, 0.05], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])  # the two 0.95s: half right; 0.6: right; 0.7: right
    result = calibration(proba, y)
    by_low = {round(b["low"], 1): b for b in result["bins"]}
    assert by_low[0.9]["count"] == 2 and by_low[0.9]["accuracy"] == 0.5
    assert by_low[0.5]["confidence"] == 0.6 and by_low[0.6]["confidence"] == 0.7
    expected = (2 * abs(0.95 - 0.5) + abs(0.6 - 1.0) + abs(0.7 - 1.0)) / 4
    assert abs(result["ece"] - expected) < 1e-9
