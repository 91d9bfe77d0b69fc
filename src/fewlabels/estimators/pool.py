"""The training pool of the consistency estimators: checked, and split for validation.

`ConsistencyTraining` and `TeacherStudent` check their data once with `check_pool`, and hold
out their validation rows once with `split_validation`, so that every stage of a
teacher-student run trains on the same rows and validates on the same labels.
"""

from __future__ import annotations

import numpy as np

from fewlabels.data.splits import stratified_split
from fewlabels.errors import InputError
from fewlabels.estimators.labels import encode_hidden, encode_labels
from fewlabels.models.chooser import choose_network
from fewlabels.validation import check_dense, check_features, check_training_data


def check_pool(X, y, classes, y_hidden, unlabeled_files, *, model, backbone):
    """The network for `X`, and the checked `X`, `y` (class indices, -1 unlabeled),
    `classes` and `y_hidden`.

    Args:
        X, y, classes, y_hidden, unlabeled_files: as `ConsistencyTraining.fit` takes them.
        model, backbone: the estimator's `model` and `backbone` parameters.

    Returns:
        `(network, X, y, classes, y_hidden)`.
    """
    check_dense(X)
    X_arr = np.asarray(X)
    network = choose_network(model, backbone, X_arr.ndim)
    images = X_arr.ndim >= 3
    if unlabeled_files is not None and not images:
        raise InputError("unlabeled_files are images; X holds feature rows.")
    if unlabeled_files is not None and y_hidden is not None:
        raise InputError("y_hidden cannot describe unlabeled_files; pass it without "
                         "streamed files.")
    y, labels = encode_labels(y, classes)
    X, y, labels = check_training_data(X_arr, y, labels, images=images,
                                       more_unlabeled=bool(unlabeled_files))
    y_hidden = encode_hidden(y_hidden, classes, labels)
    y_hidden = None if y_hidden is None else np.asarray(y_hidden, dtype=np.int64)
    if y_hidden is not None and y_hidden.shape != y.shape:
        raise InputError(f"y_hidden has shape {y_hidden.shape}; expected {y.shape}.")
    return network, X, y, labels, y_hidden


def split_validation(X, y, y_hidden, validation_data, *, images: bool, n_classes: int,
                     fraction: float, seed: int):
    """The training rows, their labels and hidden labels, and the validation data: given,
    or `fraction` of each labeled class held out of training (seeded).

    Returns:
        `(X_train, y_train, hidden_train, validation)`; `X` itself when nothing is held out
        (no copy of a large pool); `validation` is `(x_val, y_val)` or None.
    """
    labeled = np.flatnonzero(y >= 0)
    validation = None
    if validation_data is not None:
        x_val = check_features(validation_data[0], name="X_val", images=images,
                               input_shape=X.shape[1:] if images else None,
                               n_features=None if images else X.shape[1])
        y_val = np.asarray(validation_data[1], dtype=np.int64)
        if len(y_val) != len(x_val) or np.any((y_val < 0) | (y_val >= n_classes)):
            raise InputError(
                "validation_data labels must be class indices, one per row of X_val."
            )
        validation = (x_val, y_val)
    elif fraction > 0:
        _, held = stratified_split(y[labeled], fraction, seed)
        rows = labeled[held]
        validation = (X[rows], y[rows])
        y = y.copy()
        y[rows] = -2  # held out: neither labeled nor unlabeled for training
    keep = y != -2
    if keep.all():
        return X, y, y_hidden, validation
    hidden = None if y_hidden is None else y_hidden[keep]
    return X[keep], np.where(y == -2, -1, y)[keep], hidden, validation
