"""Labels as scikit-learn's semi-supervised estimators take and give them: any type, -1 for
unlabeled rows, turned into class indices for training (`encode_labels`) and back into labels
for the fitted state (`labels_of`)."""

from __future__ import annotations

import numpy as np

from fewlabels.errors import InputError


def plain(values) -> list:
    """Class labels as JSON-friendly Python values (NumPy scalars become ints and strs)."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def encode_labels(y, classes) -> tuple[np.ndarray, list | None]:
    """Labels as scikit-learn's semi-supervised estimators take them, as class indices.

    Args:
        y: class labels with -1 for unlabeled rows (scikit-learn's convention), one-hot rows,
            or, when `classes` is given, class indices into it (-1 unlabeled).
        classes: the class names, or None to take them from `y`.

    Returns:
        `(y, classes)`: indices (-1 unlabeled) and the sorted class labels; unchanged when
        `classes` is given or `y` is one-hot.
    """
    if y is None:
        raise InputError("this estimator requires y to be passed, but the target y is None.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # a column vector, as scikit-learn ravels it
        _warn_column_vector()
        y = y.ravel()
    if classes is not None or y.ndim != 1:
        return y, classes
    unlabeled = _is_unlabeled(y)
    labels = y[~unlabeled]
    try:
        found = np.unique(labels)
    except TypeError as err:  # mixed types that do not sort
        raise InputError(f"y mixes label types that cannot be ordered ({err}).") from err
    if found.dtype.kind == "f" and not np.all(np.isfinite(found)):
        raise InputError("y contains NaN or inf; mark unlabeled rows with -1.")
    if found.dtype.kind == "f" and np.any(found != np.round(found)):
        raise InputError("Unknown label type: continuous. y holds class labels (-1 for "
                         "unlabeled rows), not real numbers: this is a classifier.")
    indices = np.full(len(y), -1, dtype=np.int64)
    indices[~unlabeled] = np.searchsorted(found, labels)
    return indices, plain(found)


def encode_hidden(y_hidden, given_classes, classes: list):
    """Hidden labels as indices into `classes`, encoded as `encode_labels` encoded `y`: class
    indices already when `given_classes` was given; labels (unknown ones -1) otherwise."""
    if y_hidden is None or given_classes is not None:
        return y_hidden
    hidden = np.asarray(y_hidden)
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(plain([v])[0], -1) for v in hidden], dtype=np.int64)


def _warn_column_vector() -> None:
    import warnings

    from sklearn.exceptions import DataConversionWarning

    warnings.warn("A column-vector y was passed when a 1d array was expected; it is "
                  "raveled.", DataConversionWarning, stacklevel=4)


def _is_unlabeled(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind in "iuf":
        return y == -1
    return np.array([v == -1 or (isinstance(v, str) and v == "-1") for v in y], dtype=bool)


def labels_of(indices: np.ndarray, classes) -> np.ndarray:
    """Class indices (-1: none) as the labels of `classes` (-1 stays -1), in the dtype
    scikit-learn's `transduction_` has: the labels' own, or object when they are not
    numbers (strings beside the integer -1)."""
    classes = np.asarray(classes)
    numeric = classes.dtype.kind in "iuf"
    out = np.full(len(indices), -1, dtype=classes.dtype if numeric else object)
    known = indices >= 0
    out[known] = classes[indices[known]]
    return out
