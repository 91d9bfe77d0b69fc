"""Small tables for the tests and benchmarks that run `fewlabels fit` on a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def partly_labeled_wine(folder: Path, per_class: int = 10, seed: int = 0) -> Path:
    """scikit-learn's wine as `folder/wine.txt`: `per_class` labels per class (a seeded
    choice), the other rows unlabeled (-1), in the seed text format.

    Returns:
        The file.
    """
    from fewlabels.data.builtin import load_builtin

    data = load_builtin("wine")
    rng = np.random.default_rng(seed)
    y = np.full(len(data.y), -1)
    for c in np.unique(data.y):
        rows = rng.permutation(np.flatnonzero(data.y == c))[:per_class]
        y[rows] = data.y[rows]
    path = Path(folder) / "wine.txt"
    np.savetxt(path, np.column_stack([data.x, y]), fmt="%g")
    return path
