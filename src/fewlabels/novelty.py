"""Which items look foreign to the classes a model knows: a score and a threshold, as pure
functions.

An unlabeled pool gathered in the wild holds items of classes no label names (an open-set
pool). A model trained on the known classes is less sure of them: the score here is the
largest class probability the model gives an item (maximum softmax probability, Hendrycks &
Gimpel 2017), so a low score marks an item as suspected foreign. It needs only the model's
probabilities, so it works for every estimator (the table ensemble's averaged members
included).

The threshold comes from labeled items of the known classes that the model did not train on
(a run's test rows): the score that a share `known_recall` of them reach (95% by default,
the usual operating point of out-of-distribution detection). An item scoring below it is
suspected; about 5% of the known items are then suspected too.

Example:
```python
from fewlabels.novelty import known_scores, suspected, threshold_for

threshold = threshold_for(known_scores(model.predict_proba(x_test)))
rows = suspected(known_scores(model.predict_proba(x_pool)), threshold)  # lowest first
```
"""

from __future__ import annotations

import numpy as np

from fewlabels.errors import InputError

SCORE = "max-softmax"
"""The score a run records: the largest class probability."""
KNOWN_RECALL = 0.95
"""The share of known items a threshold keeps above it by default."""


def known_scores(proba) -> np.ndarray:
    """How known each item looks: its largest class probability (low: suspected foreign).

    Args:
        proba: class probabilities, `(n, n_classes)`.

    Returns:
        `(n,)` float64 scores in `[0, 1]`.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 1:
        raise InputError(f"proba must be (n, n_classes); got shape {proba.shape}.")
    if not np.all(np.isfinite(proba)):
        raise InputError("proba has non-finite values.")
    return proba.max(axis=1) if len(proba) else np.zeros(0)


def threshold_for(scores, known_recall: float = KNOWN_RECALL) -> float:
    """The score that a share `known_recall` of known items reach.

    Args:
        scores: `known_scores` of labeled items of the known classes the model did not train
            on (held-out rows; training rows score too high).
        known_recall: the share of those items kept at or above the threshold, in (0, 1].

    Returns:
        The threshold: the highest score that at least a share `known_recall` of
        `scores` reach.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if isinstance(known_recall, bool) or not isinstance(known_recall, int | float) \
            or not 0.0 < known_recall <= 1.0:
        raise InputError(f"known_recall must be in (0, 1]; got {known_recall!r}.")
    if scores.ndim != 1 or len(scores) == 0:
        raise InputError("threshold_for needs the scores of at least one known item.")
    ordered = np.sort(scores)
    kept = int(np.ceil(known_recall * len(ordered) - 1e-9))  # the fewest items to keep
    return float(ordered[len(ordered) - kept])


def suspected(scores, threshold: float) -> np.ndarray:
    """The items scoring below `threshold`, the least known first (ties: earlier first).

    Args:
        scores: `known_scores` of the pool.
        threshold: from `threshold_for`.

    Returns:
        `(k,)` int64 positions in `scores`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    below = np.flatnonzero(scores < threshold)
    return below[np.argsort(scores[below], kind="stable")].astype(np.int64)
