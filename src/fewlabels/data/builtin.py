"""Datasets that ship with the installed packages, so that demos and tests run offline."""

from __future__ import annotations

import numpy as np

from fewlabels.errors import InputError

BUILTIN_DATASETS = ("digits", "breast_cancer", "wine")


def load_builtin(name: str) -> tuple[np.ndarray, np.ndarray, list]:
    """Load a dataset that ships with scikit-learn, as flat feature rows.

    Args:
        name: one of `"digits"` (1,797 8x8 images as 64 pixel features, 10 classes),
            `"breast_cancer"` (569 rows, 30 features, 2 classes) or `"wine"` (178 rows,
            13 features, 3 classes).

    Returns:
        `(x, y, classes)`: float32 features, int64 labels (all known) and the class names.

    Example:
    ```python
    x, y, classes = load_builtin("digits")
    ```
    """
    from sklearn import datasets

    loaders = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
    }
    if name not in loaders:
        raise InputError(f"unknown built-in dataset {name!r}; choose from {BUILTIN_DATASETS}.")
    bunch = loaders[name]()
    classes = [str(c) for c in bunch.target_names]
    return bunch.data.astype(np.float32), bunch.target.astype(np.int64), classes
