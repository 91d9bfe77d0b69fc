"""Temperature scaling: fitted by likelihood, order-preserving, and it lowers ECE."""

import numpy as np

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
