"""Seeded, stratified splits that stay correct with unbalanced and tiny classes.

The rule, documented once and used by the workflows and the benchmarks alike: each class is
shuffled with the seed, and `round(fraction * n_c)` of its rows are held out, but never so many
that the class has no training row left. A class with a single row therefore stays in training.
"""

from __future__ import annotations

import numpy as np

from fewlabels.errors import InputError


def stratified_split(
    y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split labeled row indices into a kept part and a held-out part, class by class.

    Args:
        y: integer class labels, all labeled (>= 0).
        fraction: the share of each class to hold out, in [0, 1).
        seed: the random seed.

    Returns:
        `(kept, held_out)`: sorted index arrays into `y`.

    Example:
    ```python
    train, test = stratified_split(y, 0.2, seed=0)
    ```
    """
    y = np.asarray(y)
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"the split fraction must be in [0, 1); got {fraction!r}.")
    if np.any(y < 0):
        raise InputError("stratified_split takes labeled rows only (labels >= 0).")
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        rows = rows[rng.permutation(len(rows))]
        n_held = min(int(np.floor(fraction * len(rows) + 0.5)), len(rows) - 1)
        held.append(rows[:n_held])
    held_out = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(y)), held_out)
    return kept, held_out


def labeled_subset(
    y: np.ndarray,
    *,
    n_per_class: int | None = None,
    fraction: float | None = None,
    min_per_class: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Choose which rows keep their labels, stratified and seeded.

    Exactly one of `n_per_class` and `fraction` is given. With `fraction`, each class keeps
    `max(min_per_class, round(fraction * n_c))` labels (capped at the class size).

    Args:
        y: integer class labels of every row.
        n_per_class: labels to keep per class.
        fraction: the share of each class to keep.
        min_per_class: the floor per class when `fraction` is used.
        seed: the random seed.

    Returns:
        Sorted indices of the rows that stay labeled.

    Example:
    ```python
    keep = labeled_subset(y, n_per_class=5, seed=0)   # 5 labels per class
    y_partial = np.full_like(y, -1); y_partial[keep] = y[keep]
    ```
    """
    if (n_per_class is None) == (fraction is None):
        raise InputError("give exactly one of n_per_class and fraction.")
    if n_per_class is not None and n_per_class < 1:
        raise InputError(f"n_per_class must be >= 1; got {n_per_class}.")
    if fraction is not None and not 0.0 < fraction <= 1.0:
        raise InputError(f"fraction must be in (0, 1]; got {fraction}.")
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        rows = rows[rng.permutation(len(rows))]
        if n_per_class is not None:
            n = n_per_class
        else:
            n = max(min_per_class, int(np.floor(fraction * len(rows) + 0.5)))
        keep.append(rows[: min(n, len(rows))])
    return np.sort(np.concatenate(keep))


def hide_labels(y: np.ndarray, n_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Keep `n_per_class` labels per class (stratified, seeded); mark the others unlabeled.

    This turns a fully labeled set into a few-label problem, the rule every benchmark and the
    `--labels-per-class` option use. Rows already unlabeled (-1) stay unlabeled.

    Args:
        y: class indices, -1 for unlabeled rows.
        n_per_class: labels to keep per class (a smaller class keeps all of its labels).
        seed: chooses which rows keep their labels.

    Returns:
        `(y_partial, y_hidden)`: the labels with the hidden ones set to -1, and the hidden
        true labels (-1 where a row kept its label or had none), for reporting pseudo-label
        accuracy only.

    Example:
    ```python
    y_partial, y_hidden = hide_labels(y, 40, seed=0)   # 40 labels per class
    ```
    """
    y = np.asarray(y, dtype=np.int64)
    labeled = np.flatnonzero(y >= 0)
    if len(labeled) == 0:
        raise InputError("no labeled rows to keep labels from: every row is unlabeled.")
    keep = labeled[labeled_subset(y[labeled], n_per_class=n_per_class, seed=seed)]
    y_partial = np.full(len(y), -1, dtype=np.int64)
    y_partial[keep] = y[keep]
    y_hidden = np.where((y >= 0) & (y_partial < 0), y, -1)
    return y_partial, y_hidden


def stratified_folds(y: np.ndarray, max_folds: int, seed: int) -> np.ndarray:
    """A fold number for each labeled row, class by class: each class is shuffled with the
    seed and dealt round-robin into `k = min(max_folds, the smallest class's size)` folds
    (at least 2), so every fold holds out about the same share of each class.

    Args:
        y: class labels of the rows to split (all labeled).
        max_folds: the most folds (>= 2).
        seed: seeds the shuffles.

    Returns:
        `(len(y),)` fold numbers in `0..k-1`.

    Example:
    ```python
    stratified_folds(np.array([0, 0, 0, 1, 1, 1]), 5, seed=0)  # 3 folds, one row of each
    ```
    """
    y = np.asarray(y)
    if max_folds < 2:
        raise InputError(f"max_folds must be at least 2; got {max_folds!r}.")
    classes, counts = np.unique(y, return_counts=True)
    k = max(2, min(max_folds, int(counts.min()))) if len(y) else 2
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(y), dtype=np.int64)
    for c in classes:
        rows = np.flatnonzero(y == c)
        rng.shuffle(rows)
        folds[rows] = np.arange(len(rows)) % k
    return folds
