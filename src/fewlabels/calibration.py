"""Temperature scaling: calibrated confidence before confidence thresholds.

A network's softmax is often over-confident, so "confidence >= 0.9" does not mean "right 9
times in 10". Temperature scaling (Guo et al., ICML 2017) fits one number `T` on labeled
validation rows, minimizing their negative log-likelihood, and divides the log-probabilities
by it: `softmax(log p / T)`. The ranking of classes does not change, only how sure the model
says it is. Self-training with `calibrate=True` applies it before selecting pseudo-labels,
and records the validation ECE before and after.
"""

from __future__ import annotations

import numpy as np

from fewlabels.errors import InputError

T_RANGE = (0.25, 10.0)
"""The temperatures searched (log-uniformly bounded). With a few validation rows that are all
right, the log-likelihood falls without end as the temperature does (certainty costs
nothing there): the bound keeps such a fit from sharpening every pool prediction to 1."""
MIN_ROWS = 20
"""The fewest labeled rows a temperature is fitted on; with fewer, `temperature_record`
leaves the probabilities as they are and says why."""


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities rescaled by `temperature`: `softmax(log(proba) / temperature)`.

    Args:
        proba: probabilities, `(n, n_classes)`.
        temperature: > 0; 1 leaves them unchanged, > 1 softens, < 1 sharpens.

    Returns:
        The rescaled probabilities, rows summing to 1.
    """
    if not temperature > 0:
        raise InputError(f"temperature must be > 0; got {temperature!r}.")
    logits = np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimizes the negative log-likelihood of `y` under `proba`.

    Args:
        proba: predicted probabilities on labeled validation rows, `(n, n_classes)`.
        y: their true class indices.

    Returns:
        The temperature, in `T_RANGE`; 1.0 when there is nothing to fit on (no rows).

    Example:
    ```python
    t = fit_temperature(model.predict_proba(x_val), y_val)
    calibrated = apply_temperature(model.predict_proba(x_pool), t)
    ```
    """
    from scipy.optimize import minimize_scalar

    y = np.asarray(y, dtype=np.int64)
    if len(y) == 0:
        return 1.0
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        scaled = apply_temperature(proba, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(scaled[rows, y], 1e-12, 1.0))))

    found = minimize_scalar(nll, bounds=tuple(np.log(T_RANGE)), method="bounded",
                            options={"xatol": 1e-4})
    return float(np.exp(found.x))


def temperature_record(proba: np.ndarray, y: np.ndarray) -> dict:
    """Fit a temperature on labeled rows and say what it did: `{"temperature",
    "ece_before", "ece_after"}` (the rows' expected calibration error before and after).

    Args:
        proba: predicted probabilities of labeled rows, `(n, n_classes)`.
        y: their true class indices.

    Returns:
        The record both self-training and the table ensemble keep of their calibration. With
        fewer than `MIN_ROWS` rows no temperature is fitted (it is 1) and `"skipped"` says
        why.

    Example:
    ```python
    record = temperature_record(model.predict_proba(x_val), y_val)
    pool = apply_temperature(model.predict_proba(x_pool), record["temperature"])
    ```
    """
    from fewlabels.metrics import calibration

    before = round(calibration(proba, y)["ece"], 6) if len(y) else None
    if len(y) < MIN_ROWS:
        return {"temperature": 1.0, "ece_before": before, "ece_after": before,
                "skipped": f"{len(y)} labeled rows, fewer than the {MIN_ROWS} a temperature "
                           "is fitted on: left uncalibrated"}
    temperature = fit_temperature(proba, y)
    return {"temperature": round(temperature, 6), "ece_before": before,
            "ece_after": round(calibration(apply_temperature(proba, temperature), y)["ece"], 6)}
