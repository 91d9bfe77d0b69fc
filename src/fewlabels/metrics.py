"""Classification metrics as a JSON-friendly dict, and the collapse threshold runs watch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def dominant_classes(shares, prior) -> np.ndarray:
    """The classes whose share of the pseudo-labels is more than halfway from their labeled
    share to all of them: `share > prior + (1 - prior) / 2` (with 10 balanced classes, over
    55%; with 2, over 75%). That is a collapse onto the class, not the noise of a healthy
    run (a class at 11% against its 5% labeled share is not). Self-training's rounds and
    consistency training's epochs both warn on it.

    Args:
        shares: each class's share of the pseudo-labels, summing to 1 (or 0: none).
        prior: the labeled class distribution.

    Returns:
        The class indices, sorted.
    """
    shares, prior = np.asarray(shares, dtype=float), np.asarray(prior, dtype=float)
    return np.flatnonzero(shares > prior + (1.0 - prior) / 2.0)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence) -> dict:
    """Loss, accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix.

    Args:
        y_true: true class indices, `(n,)`.
        proba: predicted probabilities, `(n, n_classes)`.
        classes: class names, in index order.

    Returns:
        A dict with `n`, `loss` (mean cross-entropy), `accuracy`, `macro_f1`, `per_class`
        (name -> precision, recall, f1, support), `confusion_matrix` (rows: true class,
        columns: predicted class, in `classes` order) and `calibration` (see `calibration`).

    Example:
    ```python
    m = classification_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), ["a", "b"])
    m["accuracy"]  # 1.0
    ```
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true, dtype=np.int64)
    labels = np.arange(len(classes))
    pred = proba.argmax(axis=1)
    p_true = np.clip(proba[np.arange(len(y_true)), y_true], 1e-12, 1.0)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, pred, labels=labels, zero_division=0
    )
    present = support > 0
    return {
        "n": len(y_true),
        "loss": float(-np.mean(np.log(p_true))),
        "accuracy": float(np.mean(pred == y_true)),
        # Macro-F1 over the classes present in y_true, as scikit-learn computes it for them.
        "macro_f1": float(np.mean(f1[present])) if present.any() else 0.0,
        "per_class": {
            str(c): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_true, pred, labels=labels).tolist(),
        "calibration": calibration(proba, y_true),
    }


def calibration(proba: np.ndarray, y_true: np.ndarray, n_bins: int = 10) -> dict:
    """Expected calibration error and the reliability diagram's bins.

    Predictions are binned by their confidence (the top probability) into `n_bins` equal
    intervals; each bin compares its mean confidence with its accuracy, and the ECE is their
    gap averaged with the bins' sizes as weights.

    Args:
        proba: predicted probabilities, `(n, n_classes)`.
        y_true: true class indices, `(n,)`.
        n_bins: the number of confidence intervals.

    Returns:
        `{"ece": float, "bins": [{"low", "high", "confidence", "accuracy", "count"}, ...]}`,
        empty bins left out.
    """
    confidence = proba.max(axis=1)
    right = proba.argmax(axis=1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        inside = which == b
        if not inside.any():
            continue
        conf, acc = float(confidence[inside].mean()), float(right[inside].mean())
        ece += inside.mean() * abs(conf - acc)
        bins.append({"low": float(edges[b]), "high": float(edges[b + 1]), "confidence": conf,
                     "accuracy": acc, "count": int(inside.sum())})
    return {"ece": float(ece), "bins": bins}
