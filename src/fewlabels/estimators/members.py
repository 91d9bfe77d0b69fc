"""The members of `TableEnsemble`, as small pure functions on standardized NumPy arrays.

Each `fit_*` returns what the member learned as plain arrays (the weights
`fewlabels.models.kernels.ensemble_network` writes into Keras layers), and each `*_proba`
predicts with them, so the self-training rounds run at NumPy speed and the saved model
predicts what the rounds saw.

- **linear**: multinomial logistic regression (scikit-learn's `LogisticRegression`, L2).
- **kernel**: the same on Gaussian (RBF) kernel features against up to `max_anchors` rows,
  a kernel logistic regression.
- **graph**: label spreading over the k-nearest-neighbour graph of every row, labeled and
  unlabeled (scikit-learn's `LabelSpreading(kernel="knn")`); new rows take the mean class
  distribution of their k nearest rows.
- **network**: FixMatch on the rows (`ConsistencyTraining`), trained once by the ensemble
  itself (`TableEnsemble._network`); it is a Keras model already, so it has no function
  here beyond `network_proba`'s pointer.
"""

from __future__ import annotations

import warnings

import numpy as np

MEMBERS = ("linear", "kernel", "graph", "network")
MAX_KERNEL_ROWS = 10_000
"""The most rows the kernel member is fitted on (every labeled row, then a seeded sample of
the pseudo-labeled ones): its feature matrix is rows x anchors."""
ABSENT_CLASS_BIAS = -1e4
"""The logit bias of a class a member saw no row of (its probability is 0)."""
MAX_ITER = 1000
TOL = 1e-4
"""The logistic regressions' iteration cap and tolerance (scikit-learn's defaults are 100
and 1e-4; each round starts from the previous round's weights)."""
GAMMA_SAMPLE = 1000
"""Rows the median distance for the kernel width is computed on."""


SCALINGS = ("auto", "standard", "global")
COMMENSURATE = 10.0
"""`scaling="auto"` scales every feature by one shared factor when no feature's spread is
more than this many times the median feature's: the features then share a unit (pixels,
counts, lengths), and per-feature scaling would blow a nearly constant feature (a border
pixel) up to the weight of an informative one."""


def scaling_for(X: np.ndarray, scaling: str) -> str:
    """`"standard"` or `"global"`: `scaling`, or for `"auto"` the one that suits `X`'s
    features (global when their spreads are within `COMMENSURATE` of the median's)."""
    if scaling != "auto":
        return scaling
    spread = X.std(axis=0)
    spread = spread[spread > 0]
    if len(spread) == 0:
        return "standard"
    return "global" if spread.max() <= COMMENSURATE * np.median(spread) else "standard"


def standardization(X: np.ndarray, scaling: str = "standard") -> tuple[np.ndarray,
                                                                       np.ndarray]:
    """Feature means and scales: each feature's standard deviation (`"standard"`; 1 for a
    constant feature), or one shared scale, the root mean variance (`"global"`).

    Example:
    ```python
    mean, scale = standardization(x)
    z = (x - mean) / scale
    ```
    """
    mean = X.mean(axis=0)
    if scaling == "global":
        shared = float(np.sqrt(np.mean(X.var(axis=0))))
        return mean, np.full(X.shape[1], shared if shared > 0 else 1.0)
    scale = X.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def median_gamma(Z: np.ndarray, seed: int) -> float:
    """The kernel width `1 / median squared distance` between rows (the median heuristic),
    on a seeded sample of `GAMMA_SAMPLE` rows."""
    rng = np.random.default_rng(seed)
    rows = Z if len(Z) <= GAMMA_SAMPLE else Z[rng.choice(len(Z), GAMMA_SAMPLE, replace=False)]
    d = squared_distances(rows, rows)
    positive = d[d > 0]
    return 1.0 / float(np.median(positive)) if len(positive) else 1.0


def squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """`(len(A), len(B))` squared Euclidean distances (the expansion, clipped at 0)."""
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d, 0.0)


def rbf(Z: np.ndarray, anchors: np.ndarray, gamma: float) -> np.ndarray:
    """Gaussian kernel features of the rows of `Z` against `anchors`."""
    return np.exp(-gamma * squared_distances(Z, anchors))


def fit_linear(Z: np.ndarray, labels: np.ndarray, n_classes: int, C: float,
               previous: dict | None = None) -> dict:
    """Multinomial logistic regression on the labeled rows of `Z` (labels -1 are skipped).

    Args:
        Z: the rows; labels: their labels, -1 skipped.
        n_classes, C: the number of classes and the inverse regularization strength.
        previous: this member's previous fit (a round before), to start from its weights.

    Returns:
        `{"kernel": (n_features, n_classes), "bias": (n_classes,), "solver": ...}`: softmax
        logits, and scikit-learn's model (the next round starts from it).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    rows = labels >= 0
    model = previous["solver"] if previous else LogisticRegression(
        C=C, max_iter=MAX_ITER, tol=TOL, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Z[rows], labels[rows])
    kernel = np.zeros((Z.shape[1], n_classes))
    bias = np.full(n_classes, ABSENT_CLASS_BIAS)
    seen = model.classes_.astype(int)
    if len(seen) == 2:  # scikit-learn's binary form: one logit; softmax([0, z]) = sigmoid(z)
        kernel[:, seen[1]], bias[seen] = model.coef_[0], (0.0, model.intercept_[0])
    else:
        kernel[:, seen], bias[seen] = model.coef_.T, model.intercept_
    return {"kernel": kernel, "bias": bias, "solver": model}


def linear_proba(fitted: dict, Z: np.ndarray) -> np.ndarray:
    """Class probabilities of a fitted linear (or, on kernel features, kernel) member."""
    logits = Z @ fitted["kernel"] + fitted["bias"]
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def kernel_anchors(Z: np.ndarray, y: np.ndarray, max_anchors: int, seed: int) -> np.ndarray:
    """The rows the kernel member's features are measured against: every row when there
    are at most `max_anchors`, else every labeled row and a seeded sample of the rest."""
    if len(Z) <= max_anchors:
        return Z
    labeled = np.flatnonzero(y >= 0)[:max_anchors]
    rest = np.setdiff1d(np.arange(len(Z)), labeled)
    rng = np.random.default_rng(seed)
    extra = rng.choice(rest, max_anchors - len(labeled), replace=False)
    return Z[np.sort(np.concatenate([labeled, extra]))]


def fit_kernel(Z: np.ndarray, labels: np.ndarray, y: np.ndarray, n_classes: int, *, C: float,
               anchors: np.ndarray, gamma: float, seed: int,
               previous: dict | None = None) -> dict:
    """Kernel logistic regression: `fit_linear` on RBF features against `anchors`.

    Args:
        Z: standardized rows; labels: the training labels (pseudo-labels included, -1
            skipped); y: the true labels (-1 unlabeled), which always stay in.
        n_classes, C: as `fit_linear`.
        anchors, gamma: the kernel's rows and width.
        seed: seeds the sample of pseudo-labeled rows beyond `MAX_KERNEL_ROWS`.
        previous: this member's previous fit, to start from its weights.

    Returns:
        `fit_linear`'s arrays, plus `"anchors"` and `"gamma"`.
    """
    rows = np.flatnonzero(labels >= 0)
    if len(rows) > MAX_KERNEL_ROWS:
        true = rows[y[rows] >= 0]
        pseudo = np.setdiff1d(rows, true)
        rng = np.random.default_rng(seed)
        rows = np.sort(np.concatenate([true, rng.choice(
            pseudo, max(0, MAX_KERNEL_ROWS - len(true)), replace=False)]))
    features = rbf(Z[rows], anchors, gamma).astype(np.float32)
    fitted = fit_linear(features, labels[rows], n_classes, C, previous)
    return {**fitted, "anchors": anchors, "gamma": gamma}


def kernel_proba(fitted: dict, Z: np.ndarray) -> np.ndarray:
    """Class probabilities of a fitted kernel member."""
    return linear_proba(fitted, rbf(Z, fitted["anchors"], fitted["gamma"]))


def fit_graph(Z: np.ndarray, y: np.ndarray, n_classes: int, k: int, alpha: float) -> dict:
    """Label spreading over the k-nearest-neighbour graph of every row of `Z`.

    Args:
        Z: standardized rows, labeled and unlabeled; y: labels, -1 unlabeled.
        n_classes: the number of classes.
        k: neighbours per row (capped at the rows there are, minus one).
        alpha: how much a row's distribution comes from its neighbours rather than its
            label (scikit-learn's `alpha`).

    Returns:
        `{"anchors": Z, "distributions": (n, n_classes), "k": k}`.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.semi_supervised import LabelSpreading

    k = max(1, min(k, len(Z) - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        spread = LabelSpreading(kernel="knn", n_neighbors=k, alpha=alpha).fit(Z, y)
    distributions = np.zeros((len(Z), n_classes))
    distributions[:, spread.classes_[spread.classes_ >= 0].astype(int)] = \
        spread.label_distributions_
    # A row the spreading never reached (a graph component with no labeled row) knows
    # nothing: uniform over the labeled classes, not zeros, which would vote for no class.
    present = np.isin(np.arange(n_classes), y[y >= 0])
    total = distributions.sum(axis=1, keepdims=True)
    distributions = np.where(total > 0, distributions / np.maximum(total, 1e-12),
                             present / present.sum())
    return {"anchors": Z, "distributions": distributions, "k": k}


def graph_proba(fitted: dict, Z: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """The mean class distribution of each row's k nearest stored rows."""
    anchors, k = fitted["anchors"], fitted["k"]
    out = []
    for start in range(0, len(Z), chunk):
        d = squared_distances(Z[start:start + chunk], anchors)
        nearest = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else \
            np.argsort(d, axis=1)[:, :k]
        out.append(fitted["distributions"][nearest].mean(axis=1))
    return np.concatenate(out) if out else np.zeros((0, fitted["distributions"].shape[1]))


def network_proba(fitted: dict, Z: np.ndarray) -> np.ndarray:
    """The network member reads raw rows, not standardized ones: its probabilities are
    computed once by its Keras model and passed to `ensemble_proba` as `known`."""
    raise ValueError("the network member's probabilities come from its Keras model on the "
                     "raw rows; pass them to ensemble_proba as known['network'].")


PROBA = {"linear": linear_proba, "kernel": kernel_proba, "graph": graph_proba,
         "network": network_proba}


def ensemble_proba(fitted: dict, Z: np.ndarray, known: dict | None = None) -> np.ndarray:
    """The mean of the members' class probabilities.

    Args:
        fitted: the fitted members, by name.
        Z: the rows.
        known: members' probabilities on `Z` already computed, by name (the graph and
            network members do not change between rounds, so their probabilities are
            computed once).
    """
    known = known or {}
    return np.mean([known[name] if name in known else PROBA[name](member, Z)
                    for name, member in fitted.items()], axis=0)


def log_likelihood(proba: np.ndarray, y: np.ndarray) -> float:
    """The mean log-probability of the true classes `y` (probabilities clipped at 1e-7)."""
    return float(np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0))))
