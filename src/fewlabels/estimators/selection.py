"""Pure functions that choose pseudo-labels from predicted class probabilities.

They work on NumPy arrays, outside the compiled training step, and are composed by the
self-training loop (`fewlabels.estimators.self_training`). Each is small and tested on its own.
"""

from __future__ import annotations

import math

import numpy as np


def confident_rows(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Rows whose top class probability is above `threshold` (strictly, as scikit-learn's
    `SelfTrainingClassifier` compares).

    Args:
        proba: `(n, n_classes)` class probabilities.
        threshold: the confidence to exceed, in [0, 1].

    Returns:
        Sorted row indices.

    Example:
    ```python
    confident_rows(np.array([[0.95, 0.05], [0.6, 0.4]]), 0.9)  # -> array([0])
    ```
    """
    return np.flatnonzero(proba.max(axis=1) > threshold)


def most_confident(proba: np.ndarray, k: int) -> np.ndarray:
    """The `k` rows with the highest top class probability (all of them when fewer), as
    scikit-learn's `criterion="k_best"` picks. Ties are broken by row order.

    Args:
        proba: `(n, n_classes)` class probabilities.
        k: rows to keep.

    Returns:
        Sorted row indices.
    """
    order = np.argsort(-proba.max(axis=1), kind="stable")
    return np.sort(order[:k])


def balance_by_prior(proba: np.ndarray, n: int, prior: np.ndarray) -> np.ndarray:
    """Share `n` pseudo-labels among classes by the labeled prior.

    Class `c` gets its `ceil(prior[c] * n)` most confident predictions (fewer if the model
    predicts it less often). This caps a class the model over-predicts at its labeled share,
    and, unlike a cap alone, keeps a class the model is still unsure of from starving: with
    a cap alone, a hard class gets few pseudo-labels, the retrained model predicts it even
    less, and it vanishes from the predictions (confirmation bias).

    Args:
        proba: `(n_pool, n_classes)` class probabilities.
        n: how many rows the round accepts in all (the criterion's count).
        prior: `(n_classes,)` class frequencies of the labeled data, summing to 1.

    Returns:
        Sorted row indices into `proba`.
    """
    if n == 0:
        return np.array([], dtype=np.int64)
    return _most_confident_per_class(proba, lambda c: math.ceil(prior[c] * n))


def _most_confident_per_class(proba: np.ndarray, quota) -> np.ndarray:
    """For each predicted class `c`, its `quota(c)` most confident rows (ties: row order)."""
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    keep = [np.array([], dtype=np.int64)]
    for c in np.unique(pred):
        rows = np.flatnonzero(pred == c)
        order = np.argsort(-conf[rows], kind="stable")
        keep.append(rows[order[: quota(c)]])
    return np.sort(np.concatenate(keep))


def select_pseudo_labels(
    proba: np.ndarray,
    *,
    criterion: str,
    threshold: float,
    k_best: int,
    prior: np.ndarray | None,
) -> np.ndarray:
    """Choose the rows to pseudo-label: by threshold or top-k per class, then shared by prior.

    Args:
        proba: `(n, n_classes)` class probabilities of the unlabeled pool.
        criterion: `"threshold"` or `"k_best"`.
        threshold: the confidence floor for `"threshold"`.
        k_best: rows in all for `"k_best"`.
        prior: labeled class frequencies; when given, the criterion sets how many rows the
            round accepts and `balance_by_prior` shares them among classes.

    Returns:
        Sorted row indices into `proba`.
    """
    if criterion == "threshold":
        rows = confident_rows(proba, threshold)
    elif criterion == "k_best":
        rows = most_confident(proba, k_best)
    else:
        raise ValueError(f"unknown criterion {criterion!r}")
    if prior is not None:
        rows = balance_by_prior(proba, len(rows), prior)
    return rows


def pseudo_targets(proba: np.ndarray, soft: bool) -> np.ndarray:
    """Training targets from probabilities: one-hot argmax (hard), or the probabilities (soft).

    Hard targets are class indices turned one-hot, never probability vectors passed where
    sparse labels are expected (the bug of the widely copied recipe).
    """
    if soft:
        return proba.astype(np.float32)
    return np.eye(proba.shape[1], dtype=np.float32)[proba.argmax(axis=1)]
