"""Which unlabeled items to label next: acquisition strategies, as pure functions.

Each strategy ranks a pool from the model's class probabilities on it (and, for the
diversity strategies, the model's features of the pool and of the items already labeled)
and returns the `budget` items most worth labelling, best first, with the score each had
when it was picked:

- `margin`: the smallest gap between the two most probable classes (Scheffer et al. 2001);
  the score is `1 - (p_first - p_second)`.
- `entropy`: the largest entropy of the predicted distribution (Shannon; natural log).
- `k-center`: core-set selection (Sener & Savarese 2018): greedily the item farthest from
  everything labeled or picked so far, in feature space; the score is that distance.
- `diverse-margin`: margin weighted by diversity: greedily the item with the largest
  `(1 - margin) * distance / largest distance` to what is labeled or picked, so a batch of
  picks does not spend its budget on near-duplicates of one uncertain region.
- `typical`: representative picks for the first labels (TypiClust, Hacohen et al. 2022):
  the pool and the labeled items are clustered (k-means on the features, as many clusters
  as labeled items plus the budget); each pick is the most typical item (the smallest mean
  distance to its 20 nearest neighbours) of the largest cluster with the fewest labels.
  Uncertainty needs a model that already knows something; typical picks do not, which is
  why they win when labels are very few. The score is the typicality.
- `random`: a seeded uniform sample (the baseline every strategy is measured against).

Ties are broken by position (the earlier item first), so a ranking is reproducible.

Example:
```python
from fewlabels.acquisition import select

picks, scores = select("margin", proba_pool, budget=100)
```
"""

from __future__ import annotations

import numpy as np

from fewlabels.errors import InputError

STRATEGIES = ("margin", "entropy", "k-center", "diverse-margin", "typical", "random")
"""The values of `strategy` (`fewlabels suggest --strategy`)."""

NEEDS_FEATURES = ("k-center", "diverse-margin", "typical")
NEIGHBOURS = 20
"""The neighbours `typical` measures an item's typicality over (TypiClust's choice)."""
MAX_CLUSTERS = 500
"""The most clusters `typical` makes (TypiClust caps them the same way)."""


def margin_scores(proba: np.ndarray) -> np.ndarray:
    """`1 - (p_first - p_second)` per row: 1 for a tie between the two top classes."""
    top = np.sort(np.asarray(proba, dtype=np.float64), axis=1)
    second = top[:, -2] if top.shape[1] > 1 else np.zeros(len(top))
    return 1.0 - (top[:, -1] - second)


def entropy_scores(proba: np.ndarray) -> np.ndarray:
    """The entropy of each row's distribution, in nats (0 for a one-hot row)."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    return -np.sum(p * np.log(p), axis=1)


def _top(scores: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((np.arange(len(scores)), -scores))[:budget]  # ties: earlier first
    return order, scores[order]


def _distances_to(features: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Each row's Euclidean distance to its nearest center (inf without centers)."""
    nearest = np.full(len(features), np.inf)
    for start in range(0, len(centers), 256):  # bounded memory: 256 centers at a time
        block = centers[start:start + 256]
        d = (np.sum(features ** 2, axis=1)[:, None] - 2.0 * features @ block.T
             + np.sum(block ** 2, axis=1)[None, :])
        nearest = np.minimum(nearest, np.sqrt(np.maximum(d.min(axis=1), 0.0)))
    return nearest


def greedy_diverse(features: np.ndarray, labeled: np.ndarray, budget: int,
                   weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy core-set picks: each time the item whose distance to the nearest labeled or
    picked item (times its weight, when given) is largest.

    Args:
        features: `(n, d)` the pool's features.
        labeled: `(m, d)` the labeled items' features (m may be 0: the first pick is then
            the item of largest weight, or the first item).
        budget: how many to pick.
        weights: `(n,)` non-negative weights (diverse-margin's uncertainty), or None.

    Returns:
        `(indices, scores)`: the picks in order and the score each had when picked.
    """
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    labeled = np.asarray(labeled, dtype=np.float64).reshape(-1, features.shape[1])
    nearest = _distances_to(features, labeled)
    picks, scores = [], []
    for _ in range(budget):
        spread = nearest.copy()
        finite = np.isfinite(spread)
        top = spread[finite].max() if finite.any() else 0.0
        spread[~finite] = 1.0 if top == 0 else top  # nothing labeled yet: all equally far
        if weights is not None:
            spread = weights * (spread / (top if top > 0 else 1.0))
        spread[picks] = -np.inf
        best = int(np.argmax(spread))
        picks.append(best)
        scores.append(float(spread[best]))
        nearest = np.minimum(nearest, _distances_to(features, features[best:best + 1]))
    return np.asarray(picks, dtype=np.int64), np.asarray(scores)


def typical_picks(features: np.ndarray, labeled: np.ndarray, budget: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """TypiClust's picks: in turn, the most typical pool item of the largest cluster that
    holds the fewest labeled or picked items.

    Args:
        features: `(n, d)` the pool's features.
        labeled: `(m, d)` the labeled items' features.
        budget: how many to pick.
        seed: seeds k-means.

    Returns:
        `(indices, typicality)`: the picks in order, and each one's typicality (the inverse
        of its mean distance to its nearest neighbours in its cluster).
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    labeled = np.asarray(labeled, dtype=np.float64).reshape(-1, features.shape[1])
    both = np.concatenate([features, labeled])
    k = int(min(len(labeled) + budget, MAX_CLUSTERS, len(both)))
    kind = KMeans if len(both) <= 20_000 else MiniBatchKMeans
    clusters = kind(n_clusters=k, n_init=1, random_state=seed).fit_predict(both)
    pool_cluster, covered = clusters[:len(features)], np.bincount(clusters[len(features):],
                                                                  minlength=k)
    sizes, left = np.bincount(clusters, minlength=k), np.bincount(pool_cluster, minlength=k)
    picks, scores, taken = [], [], np.zeros(len(features), bool)
    for _ in range(budget):
        # The fewest labels, then the largest, then the first, among clusters with pool left.
        order = np.lexsort((np.arange(k), -sizes, covered, left == 0))
        best = int(order[0])
        members = np.flatnonzero(clusters == best)  # typicality among the whole cluster
        candidates = np.flatnonzero((pool_cluster == best) & ~taken)
        typicality = _typicality(both[candidates], both[members])
        chosen = int(np.argmax(typicality))
        picks.append(int(candidates[chosen]))
        scores.append(float(typicality[chosen]))
        taken[candidates[chosen]] = True
        covered[best] += 1
        left[best] -= 1
    return np.asarray(picks, dtype=np.int64), np.asarray(scores)


def _typicality(points: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """1 / (mean distance to the nearest `NEIGHBOURS` other members of `cluster`)."""
    k = min(NEIGHBOURS, len(cluster) - 1)
    if k < 1:
        return np.ones(len(points))
    out = np.empty(len(points))
    for start in range(0, len(points), 256):
        block = points[start:start + 256]
        d = np.sqrt(np.maximum(np.sum(block ** 2, 1)[:, None] - 2.0 * block @ cluster.T
                               + np.sum(cluster ** 2, 1)[None, :], 0.0))
        nearest = np.sort(d, axis=1)[:, 1:k + 1]  # (the point itself is at distance 0)
        out[start:start + 256] = 1.0 / (nearest.mean(axis=1) + 1e-12)
    return out


def select(strategy: str, proba: np.ndarray, budget: int, *, features=None,
           labeled_features=None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The `budget` items of a pool most worth labelling, by `strategy`.

    Args:
        strategy: one of `STRATEGIES`.
        proba: `(n, n_classes)` the model's probabilities on the pool.
        budget: how many items to pick (1..n).
        features: `(n, d)` the model's features of the pool (`k-center`, `diverse-margin`,
            `typical`).
        labeled_features: `(m, d)` the features of the items already labeled (the same).
        seed: seeds `random` and `typical`'s k-means.

    Returns:
        `(indices, scores)` into the pool, best first.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"strategy must be one of {list(STRATEGIES)}; got {strategy!r}.")
    proba = np.asarray(proba, dtype=np.float64)
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or not (
            1 <= budget <= len(proba)):
        raise InputError(f"budget must be a whole number from 1 to the {len(proba)} "
                         f"unlabeled items; got {budget!r}.")
    budget = int(budget)
    if strategy == "random":
        picks = np.random.default_rng(seed).permutation(len(proba))[:budget]
        return picks, np.zeros(budget)
    if strategy == "margin":
        return _top(margin_scores(proba), budget)
    if strategy == "entropy":
        return _top(entropy_scores(proba), budget)
    if features is None:
        raise InputError(f"strategy={strategy!r} needs the model's features of the pool.")
    labeled = np.zeros((0, np.asarray(features).reshape(len(features), -1).shape[1])) \
        if labeled_features is None else labeled_features
    if strategy == "typical":
        return typical_picks(features, labeled, budget, seed)
    weights = margin_scores(proba) if strategy == "diverse-margin" else None
    return greedy_diverse(features, labeled, budget, weights)
