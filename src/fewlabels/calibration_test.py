"""Temperature scaling: fitted by likelihood, order-preserving, and it lowers ECE."""

import numpy as np
import pytest

from fewlabels.calibration import apply_temperature, fit_temperature
from fewlabels.metrics import calibration


def _overconfident(n=2000, seed=0):
    """A model right 70% of the time that says 0.97 every time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.7, y, (y + 1) % 3)
    proba = np.full((n, 3), 0.015)
    proba[np.arange(n), pred] = 0.97
    return proba, y


def test_a_fitted_temperature_softens_an_overconfident_model_and_lowers_its_ece():
    proba, y = _overconfident()
    t = fit_temperature(proba, y)
    assert t > 1.5  # softened
    calibrated = apply_temperature(proba, t)
    np.testing.assert_array_equal(calibrated.argmax(1), proba.argmax(1))  # order kept
    assert abs(calibrated.max(1).mean() - 0.7) < 0.02  # confidence now means accuracy
    assert calibration(calibrated, y)["ece"] < 0.02 < calibration(proba, y)["ece"]


def test_temperature_one_changes_nothing_and_no_rows_fit_one():
    proba, y = _overconfident(50)
    np.testing.assert_allclose(apply_temperature(proba, 1.0), proba, atol=1e-12)
    assert fit_temperature(proba[:0], y[:0]) == 1.0


def test_temperature_record_is_the_fitted_temperature_and_both_eces():
    from fewlabels.calibration import temperature_record

    proba, y = _overconfident()
    record = temperature_record(proba, y)
    assert record["temperature"] == round(fit_temperature(proba, y), 6) > 1.0
    assert record["ece_before"] == round(calibration(proba, y)["ece"], 6)
    assert record["ece_after"] < record["ece_before"] - 0.1


def test_a_few_rows_all_right_cannot_drive_the_temperature_to_certainty():
    from fewlabels.calibration import T_RANGE

    proba = np.array([[0.6, 0.4], [0.3, 0.7]] * 20)
    y = proba.argmax(1)  # every row right: the likelihood rewards sharpening without end
    assert fit_temperature(proba, y) == pytest.approx(T_RANGE[0], rel=1e-3)
    assert T_RANGE[0] >= 0.25  # bounded: 0.6 becomes 0.84 at most, not 1.0


def test_below_the_minimum_of_rows_no_temperature_is_fitted_and_the_record_says_why():
    from fewlabels.calibration import MIN_ROWS, temperature_record

    proba, y = _overconfident(MIN_ROWS - 1)
    record = temperature_record(proba, y)
    assert record["temperature"] == 1.0 and record["ece_after"] == record["ece_before"]
    assert f"{MIN_ROWS - 1} labeled rows, fewer than the {MIN_ROWS}" in record["skipped"]


def test_self_training_asked_to_calibrate_on_a_handful_of_rows_warns():
    from sklearn.linear_model import LogisticRegression

    from fewlabels import FewLabelsWarning, SelfTraining

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (40, 2)), rng.normal(3, 1, (40, 2))])
    y = np.full(80, -1)
    y[[0, 1, 2, 3, 40, 41, 42, 43]] = [0, 0, 0, 0, 1, 1, 1, 1]
    with pytest.warns(FewLabelsWarning, match="calibrate=True: 2 labeled rows, fewer than"):
        model = SelfTraining(LogisticRegression(), calibrate=True, rounds=1).fit(x, y)
    assert model.rounds_[0]["calibration"]["temperature"] == 1.0


def test_the_printed_table_shows_each_methods_ece():
    from fewlabels.metrics import classification_metrics
    from fewlabels.report import comparison_table

    proba, y = _overconfident(200)
    metrics = classification_metrics(y, proba, ["a", "b", "c"])
    table = comparison_table([{"name": "model", "metrics": metrics}])
    assert "ECE" in table.splitlines()[0]
    assert f"{metrics['calibration']['ece']:.4f}" in table
