"""Datasets that ship with the installed packages, so that demos and tests run offline."""

from __future__ import annotations

import numpy as np

from fewlabels.data.table import Table
from fewlabels.errors import InputError

BUILTIN_DATASETS = ("digits", "breast_cancer", "wine", "iris")


def load_builtin(name: str) -> Table:
    """Load a dataset that ships with scikit-learn, as flat feature rows.

    Args:
        name: one of `"digits"` (1,797 8x8 images as 64 pixel features, 10 classes),
            `"breast_cancer"` (569 rows, 30 features, 2 classes) or `"wine"` (178 rows,
            13 features, 3 classes) or `"iris"` (150 rows, 4 features, 3 classes).

    Returns:
        A `Table`: float32 features, int64 labels (all known), the class names.

    Example:
    ```python
    table = load_builtin("digits")
    table.x.shape, table.classes
    ```
    """
    from sklearn import datasets

    loaders = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "iris": datasets.load_iris,
    }
    if name not in loaders:
        raise InputError(f"unknown built-in dataset {name!r}; choose from {BUILTIN_DATASETS}.")
    bunch = loaders[name]()
    n_features = bunch.data.shape[1]
    names = getattr(bunch, "feature_names", None)  # a list or an array, by dataset
    names = [str(n) for n in names] if names is not None and len(names) else [
        f"column_{c + 1}" for c in range(n_features)]
    return Table(x=bunch.data.astype(np.float32), y=bunch.target.astype(np.int64),
                 classes=[str(c) for c in bunch.target_names], feature_names=names,
                 rows=np.arange(1, len(bunch.data) + 1, dtype=np.int64), path=f"builtin:{name}")
