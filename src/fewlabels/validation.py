"""Checks on arrays passed to the estimators, with scikit-learn-style messages."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from fewlabels.errors import FewLabelsWarning, InputError, InputTypeError

SHOWN_VALUES = 12  # of a bad row, in a message


def check_features(X, *, n_features: int | None = None, name: str = "X",
                   images: bool = False, input_shape: tuple | None = None,
                   estimator: str = "the model", for_learner: bool = False) -> np.ndarray:
    """Return `X` as a finite float32 array, or raise naming what is wrong.

    Images given as `uint8` stay `uint8` (a quarter of the memory; each batch is cast to
    float32 when it is used), and a float32 array is not copied.

    Args:
        X: array-like of shape `(n_samples, n_features)`, or with `images=True`
            `(n_samples, height, width, channels)` (a missing channel axis is added).
        n_features: the width a fitted tabular model expects, if any.
        name: the argument's name for messages.
        images: expect images instead of feature rows.
        input_shape: the per-sample shape a fitted image model expects, if any.
        estimator: what expects `n_features`, for the message.
        for_learner: rows for a scikit-learn learner (`SelfTraining(estimator=...)`): a
            scipy sparse matrix is accepted (as CSR), and float64 stays float64.

    Returns:
        The float32 (or uint8 images) array; with `for_learner`, a CSR matrix or the rows
        in their own float precision.
    """
    if for_learner and _is_sparse(X):
        return _check_sparse(X, n_features, name, estimator)
    check_dense(X, name)
    try:
        arr = np.asarray(X)
        if arr.dtype.kind == "c":
            raise InputError(f"{name} has complex numbers: Complex data not supported.")
        kept = ((images and arr.dtype == np.uint8)  # images stay uint8
                or (for_learner and arr.dtype.kind == "f"))  # a learner's rows, float64 too
        if not kept:
            arr = arr.astype(np.float32, copy=False)
    except TypeError as err:
        raise InputTypeError(f"{name} must be an array of numbers: {err}") from err
    except ValueError as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{name} must be an array of numbers: {err}") from err
    if images:
        if arr.ndim == 3:
            arr = arr[..., None]
        if arr.ndim != 4 or not 1 <= arr.shape[-1] <= 4 or 0 in arr.shape[1:]:
            raise InputError(
                f"{name} must be images shaped (n, height, width, channels) with 1-4 "
                f"channels; got an array of shape {arr.shape}."
            )
        if input_shape is not None and tuple(arr.shape[1:]) != tuple(input_shape):
            raise InputError(
                f"{name} has images of shape {arr.shape[1:]}, but the model was trained on "
                f"{tuple(input_shape)}."
            )
    elif arr.ndim != 2:
        raise InputError(
            f"{name} must be 2-D (n_samples, n_features); got an array of shape {arr.shape}. "
            "Reshape your data: X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one "
            "sample."
        )
    elif arr.shape[1] == 0:
        raise InputError(f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 "
                         "is required.")
    if n_features is not None and not images and arr.shape[1] != n_features:
        raise InputError(
            f"{name} has {arr.shape[1]} features, but {estimator} is expecting {n_features} "
            "features as input."
        )
    bad = ~np.isfinite(arr) if arr.dtype.kind == "f" else np.zeros(1, bool)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"{name} contains NaN or inf (first at row {row}, column {col}, 0-based)."
        )
    return arr


def _is_sparse(X) -> bool:
    return hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse")


def _check_sparse(X, n_features: int | None, name: str, estimator: str):
    """A scipy sparse matrix of finite numbers as CSR, for a scikit-learn learner."""
    X = X.tocsr()
    if X.dtype.kind not in "iuf" or X.ndim != 2 or X.shape[1] == 0:
        raise InputError(f"{name} must be a 2-D sparse matrix of numbers with at least one "
                         f"column; got {X.dtype} of shape {X.shape}.")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"{name} has {X.shape[1]} features, but {estimator} is expecting "
                         f"{n_features} features as input.")
    bad = np.flatnonzero(~np.isfinite(X.data))
    if len(bad):
        row = int(np.searchsorted(X.indptr, bad[0], side="right") - 1)
        raise InputError(f"{name} contains NaN or inf (first at row {row}, column "
                         f"{int(X.indices[bad[0]])}, 0-based).")
    return X


def check_dense(X, name: str = "X") -> None:
    """Refuse a sparse matrix by name (fewlabels trains on dense arrays)."""
    if _is_sparse(X):
        raise InputTypeError(f"{name} is a sparse matrix; sparse data is not supported: pass "
                             "a dense array (X.toarray()).")


def check_training_data(X, y, classes: Sequence | None, *, images: bool = False,
                        more_unlabeled: bool = False,
                        for_learner: bool = False) -> tuple[np.ndarray, np.ndarray, list]:
    """Validate features and partial labels for semi-supervised training.

    Labels are class indices into `classes`, with -1 marking unlabeled rows.

    Args:
        X: features `(n_samples, n_features)`.
        y: labels `(n_samples,)`, -1 for unlabeled.
        classes: the class values, or None for `0 .. max(y)`.
        images: `X` holds images `(n, height, width, channels)` instead of feature rows.
        more_unlabeled: unlabeled images come from elsewhere too (files streamed from disk),
            so a fully labeled `X` is no reason to warn.
        for_learner: rows for a scikit-learn learner (see `check_features`).

    Returns:
        `(X, y, classes)` as float32, int64 and a list.

    Raises:
        InputError: on mismatched lengths, too few samples, no or one labeled class.
    """
    X = check_features(X, images=images, for_learner=for_learner)
    n = X.shape[0]
    if y is None:
        raise InputError("this estimator requires y to be passed, but the target y is None.")
    y_arr = np.asarray(y)
    if y_arr.ndim >= 1 and len(y_arr) != n:  # before reading it as one-hot rows
        raise InputError(f"X has {n} rows but y has {len(y_arr)} labels"
                             + (f" (y has shape {y_arr.shape})" if y_arr.ndim > 1 else "")
                             + ".")
    if y_arr.ndim == 2:
        y_arr = onehot_to_indices(y_arr)
        if classes is None:
            classes = list(range(np.asarray(y).shape[1]))
    if y_arr.ndim != 1:
        raise InputError(f"y must be 1-D; got an array of shape {y_arr.shape}.")
    if len(y_arr) != n:
        raise InputError(f"X has {n} rows but y has {len(y_arr)} labels.")
    if n < 2:
        raise InputError(f"need at least 2 samples; got n_samples = {n}.")
    if y_arr.dtype.kind not in "iu" and not (
        y_arr.dtype.kind == "f" and np.all(np.isfinite(y_arr)) and np.all(y_arr == np.round(y_arr))
    ):
        raise InputError(
            "y must hold integer class indices (-1 for unlabeled); use "
            "fewlabels.data.load_table or map labels to indices first."
        )
    y_arr = y_arr.astype(np.int64)
    if np.any(y_arr < -1):
        raise InputError(f"y has the value {int(y_arr.min())}; labels are >= 0, or -1.")
    if classes is None:
        classes = list(range(int(y_arr.max()) + 1)) if np.any(y_arr >= 0) else []
    classes = list(classes)
    if np.any(y_arr >= len(classes)):
        raise InputError(
            f"y has the class index {int(y_arr.max())}, but classes lists only {len(classes)}."
        )
    counts = check_label_counts(y_arr, classes)
    n_labeled = int(counts.sum())
    for count, problem in ((0, "no labeled rows and will never be predicted"),
                           (1, "a single labeled example, too few to validate on")):
        named = [classes[i] for i in np.flatnonzero(counts == count)]
        if named:
            warnings.warn(f"these classes have {problem}: {named}.", FewLabelsWarning,
                          stacklevel=3)
    if n_labeled == len(y_arr) and not more_unlabeled:
        warnings.warn(
            "y contains no unlabeled samples: training a plain supervised model.",
            FewLabelsWarning,
            stacklevel=3,
        )
    return X, y_arr, classes


def check_sample_weight(sample_weight, n: int) -> np.ndarray | None:
    """None, or `n` finite, non-negative row weights as float32; a bad one is named by row.

    Args:
        sample_weight: the weights `fit` was given, or None.
        n: the number of rows of `X`.

    Returns:
        The weights as a float32 array, or None.
    """
    if sample_weight is None:
        return None
    try:
        weight = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"sample_weight must be numbers; {err}.") from err
    if weight.ndim == 0:
        weight = np.full(n, float(weight))
    if weight.shape != (n,):
        raise InputError(f"sample_weight has shape {weight.shape}; expected ({n},), one "
                         "weight per row of X.")
    bad = np.flatnonzero(~np.isfinite(weight) | (weight < 0))
    if len(bad):
        raise InputError(f"sample_weight must be finite and >= 0; row {int(bad[0])} has "
                         f"{weight[bad[0]]!r}.")
    if not weight.any():
        raise InputError("Sample weights must contain at least one non-zero number.")
    return weight.astype(np.float32)


def check_label_counts(y: np.ndarray, classes: list, name: str = "") -> np.ndarray:
    """Refuse labels with no labeled row, or labeled rows of one class only.

    Args:
        y: class indices, -1 for unlabeled rows.
        classes: the class names.
        name: the data's name (a file), put first in the message.

    Returns:
        The number of labeled rows of each class.
    """
    where = f"{name}: " if name else ""
    counts = np.bincount(y[y >= 0], minlength=len(classes))
    if counts.sum() == 0:
        raise InputError(
            f"{where}all {len(y)} rows are unlabeled: label at least one row of each of two "
            "or more classes."
        )
    present = [classes[i] for i in np.flatnonzero(counts)]
    if len(present) < 2:
        hint = (" (-1 marks unlabeled rows: if -1 is one of your classes, as in -1/+1 "
                "labels, map it to another value such as 0)" if np.any(y < 0) else "")
        raise InputError(
            f"{where}only one class ({present[0]!r}) has labeled rows; a classifier needs "
            f"labeled rows of at least two classes{hint}."
        )
    return counts


def onehot_to_indices(y) -> np.ndarray:
    """Class indices from one-hot label rows; an all-zero row is unlabeled (-1).

    Args:
        y: `(n_samples, n_classes)` rows, each one-hot or all zeros.

    Returns:
        `(n_samples,)` int64 class indices, -1 for all-zero rows.

    Raises:
        InputError: naming the first row that is neither one-hot nor all zeros.
    """
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] < 2:
        raise InputError(
            f"one-hot labels must be shaped (n_samples, n_classes >= 2); got {y.shape}."
        )
    if y.dtype.kind not in "iufb":
        raise InputError(f"one-hot labels must be numbers; got dtype {y.dtype}.")
    y = y.astype(np.float64)
    ok = np.isin(y, (0.0, 1.0)).all(axis=1) & (y.sum(axis=1) <= 1)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        values = y[row, :SHOWN_VALUES].tolist()
        shown = ", ".join(f"{v:g}" for v in values)
        if y.shape[1] > SHOWN_VALUES:
            shown += f", ... ({y.shape[1]} values)"
        raise InputError(
            f"y row {row} is not one-hot ([{shown}]): each row needs a single 1 "
            "(labeled) or all zeros (unlabeled)."
        )
    return np.where(y.sum(axis=1) > 0, y.argmax(axis=1), -1).astype(np.int64)
