"""Which items look foreign to the classes a model knows: scores and a threshold, as pure
functions.

An unlabeled pool gathered in the wild holds items of classes no label names (an open-set
pool). A model trained on the known classes is less sure of them, and two scores read that
(low: suspected foreign):

- `energy_scores`: the log of the sum of the exponentiated logits (the negative free
  energy; Liu et al., NeurIPS 2020). It needs the logits, so it scores a network's items;
  on the open-set benchmark it ranks foreign items above known ones more often than the
  largest probability does (docs/open-set.md), so a run with a network uses it.
- `known_scores`: the largest class probability (maximum softmax probability, Hendrycks &
  Gimpel 2017). It needs only probabilities, so it works for every estimator: the table
  ensemble, which averages its members' probabilities and has no logits, uses it.

The threshold comes from labeled items of the known classes that the model did not train on
(a run's test rows): the score that a share `known_recall` of them reach (95% by default,
the usual operating point of out-of-distribution detection). An item scoring below it is
suspected; about 5% of the known items are then suspected too.

Example:
```python
from fewlabels.novelty import energy_scores, suspected, threshold_for

threshold = threshold_for(energy_scores(model.logits(x_test)))
rows = suspected(energy_scores(model.logits(x_pool)), threshold)  # lowest first
```
"""

from __future__ import annotations

import numpy as np

from fewlabels.errors import InputError

SCORE = "max-softmax"
"""The largest class probability's name, as a run records it."""
ENERGY = "energy"
"""The energy score's name, as a run records it."""
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


def energy_scores(logits) -> np.ndarray:
    """How known each item looks: `log sum_k exp(logit_k)`, the negative free energy of its
    logits (low: suspected foreign).

    Where the largest probability compares the logits with each other, this reads their
    size too: an item far from every class the network learned gets small logits for all
    of them, and a low score, even when one class is ahead.

    Args:
        logits: the network's logits, `(n, n_classes)`: what its softmax turns into
            probabilities (`Estimator.logits`).

    Returns:
        `(n,)` float64 scores, unbounded.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise InputError(f"logits must be (n, n_classes); got shape {logits.shape}.")
    if not np.all(np.isfinite(logits)):
        raise InputError("logits has non-finite values.")
    from scipy.special import logsumexp

    return logsumexp(logits, axis=1) if len(logits) else np.zeros(0)


def threshold_for(scores, known_recall: float = KNOWN_RECALL) -> float:
    """The score that a share `known_recall` of known items reach.

    Args:
        scores: `known_scores` or `energy_scores` of labeled items of the known classes the
            model did not train on (held-out rows; training rows score too high).
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
        scores: the pool's scores (`known_scores` or `energy_scores`).
        threshold: from `threshold_for` on the same score.

    Returns:
        `(k,)` int64 positions in `scores`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    below = np.flatnonzero(scores < threshold)
    return below[np.argsort(scores[below], kind="stable")].astype(np.int64)
