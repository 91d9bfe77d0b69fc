"""Which unlabeled items to label next, from a fitted model (`fewlabels suggest`).

`suggest` ranks the unlabeled items of a pool by an acquisition strategy
(`fewlabels.acquisition`: margin, entropy, k-center, diverse-margin, typical, random);
`suggest_run` does it for a run directory and its training data, and `suggest_from_body`
before any label, on the features of a pretrained body; each writes `picks.csv`:
one line per pick, best first, with the item (`row`, `path` or `index`), an empty `label`
column for the annotator, the strategy's score, the predicted class and its probability.
`fewlabels fit DATA --labels picks.csv` takes the filled-in labels back
(`fewlabels.data.answers`).

Example:
```python
picks = suggest_run("runs/r1", "photos/", "picks.csv", budget=100, strategy="typical")
# label picks.csv's `label` column, then:
fit_run("photos/", "runs/r2", labels="picks.csv")
```
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from fewlabels.acquisition import NEEDS_FEATURES, select
from fewlabels.errors import InputError
from fewlabels.estimators.base import CONFIG_FILE
from fewlabels.files import csv_cell, read_json, write_atomic
from fewlabels.progress import shown
from fewlabels.workflow.rundir import check_output_file


@dataclasses.dataclass(frozen=True)
class Picks:
    """The items `suggest` picked, best first.

    Attributes:
        indices: positions in the pool it was given.
        scores: the strategy's score of each when it was picked (higher: more worth it).
        predicted: the model's class for each (a class of `classes_`).
        confidence: the model's probability of that class.
    """

    indices: np.ndarray
    scores: np.ndarray
    predicted: list
    confidence: np.ndarray


def suggest(estimator, X, budget: int, *, strategy: str = "diverse-margin", labeled=None,
            seed: int = 0) -> Picks:
    """The `budget` items of the pool `X` most worth labelling next, by `strategy`.

    Args:
        estimator: a fitted fewlabels estimator.
        X: the unlabeled pool (rows or images).
        budget: how many items to pick.
        strategy: `margin`, `entropy`, `k-center`, `diverse-margin`, `typical` or `random`
            (`fewlabels.acquisition`).
        labeled: the items already labeled (k-center and diverse-margin measure distances
            to them in the model's feature space); None: none.
        seed: seeds `random`.

    Returns:
        The `Picks`.
    """
    proba = estimator.predict_proba(X)
    features = labeled_features = None
    if strategy in NEEDS_FEATURES:
        features = estimator.features(X)
        if labeled is not None:
            labeled_features = estimator.features(labeled)
    indices, scores = select(strategy, proba, budget, features=features,
                             labeled_features=labeled_features, seed=seed)
    top = proba[indices].argmax(axis=1)
    return Picks(indices, scores, [estimator.classes_[int(c)] for c in top],
                 proba[indices, top])


def suggest_run(run_dir: str | Path, data: str | Path, out: str | Path, *, budget: int,
                strategy: str = "diverse-margin", seed: int = 0, trust_model: bool = False,
                verbose: int = 0) -> Picks:
    """Rank the unlabeled items of a run's training data for labelling; write `out`.

    `data` is read as the run read its training data (the options in its `config.json`,
    the labels files it merged included): its unlabeled items are the pool, its labeled ones
    what k-center measures distances to. Streamed images are decoded here.

    Args:
        run_dir: a directory written by `fit_run`.
        data: the training data (or another copy of it, with more labels).
        out: the CSV to write.
        budget, strategy, seed: see `suggest`.
        trust_model: see `evaluate_run`.
        verbose: 1: progress bars while images are read and predicted; 0 none.

    Returns:
        The `Picks` (indices into `data`'s items).
    """
    from fewlabels.estimators import load_estimator
    from fewlabels.workflow.runs import load_training_data

    out = check_output_file(out, run_dir, data, kind="picks")
    config = read_json(Path(run_dir) / CONFIG_FILE) if Path(run_dir).is_dir() else {}
    estimator = load_estimator(run_dir, trust_model=trust_model)
    read = {**READ_DEFAULTS, **config.get("read", {})}
    with shown(verbose):
        loaded = load_training_data(data, test=None, stream_unlabeled=False,
                                    labels=config.get("labels"), **read)
        pool, labeled = np.flatnonzero(loaded["y"] < 0), np.flatnonzero(loaded["y"] >= 0)
        if not len(pool):
            raise InputError(f"{data}: every item is labeled; there is nothing to suggest.")
        picks = suggest(estimator, loaded["x"][pool], budget, strategy=strategy,
                        labeled=loaded["x"][labeled], seed=seed)
    picks = dataclasses.replace(picks, indices=pool[picks.indices])
    keys = [loaded["keys"][i] for i in picks.indices]
    write_picks(out, loaded["key"], keys, picks)
    return picks


READ_DEFAULTS = {"label_column": -1, "delimiter": None, "header": "auto", "encoding": "utf-8",
                 "image_size": None, "channels": None, "unlabeled": "unlabeled",
                 "unlabeled_dir": None, "on_bad_image": "error"}
"""How DATA is read when the run or the pretraining recorded nothing else."""
COLD_STRATEGIES = ("typical", "k-center", "random")
"""The strategies that need no classifier: what a pretrained body alone can rank by."""


def suggest_from_body(body: str | Path, data: str | Path, out: str | Path, *, budget: int,
                      strategy: str = "typical", seed: int = 0, verbose: int = 0) -> Picks:
    """Choose the first items to label before any model is trained: rank DATA's unlabeled
    items on the features of a body `fewlabels pretrain` trained (TypiClust's cold start);
    write `out` as `suggest_run` does (no predicted class: the body has none).

    DATA is read as the pretraining read it (the options in the body's `.pretrain.json`);
    its labeled items, if any, count as covered (`typical` favours clusters without them,
    `k-center` measures distances to them).

    Args:
        body: a `.weights.h5` file written by `fewlabels pretrain`, its `.pretrain.json`
            beside it.
        data: the items to choose from (the pretraining's data, or another copy of it).
        out: the CSV to write.
        budget: how many items to pick.
        strategy: `typical` (default), `k-center` or `random` (`COLD_STRATEGIES`).
        seed: seeds `random` and `typical`'s k-means.
        verbose: 1: progress bars while images are read and featurized.

    Returns:
        The `Picks` (indices into `data`'s items).

    Example:
    ```python
    pretrain_run("photos/", "body.weights.h5", steps=4000)
    suggest_from_body("body.weights.h5", "photos/", "first.csv", budget=100)
    ```
    """
    from fewlabels.estimators.specs import Network
    from fewlabels.workflow.pretrain import NETWORK_OPTIONS, sidecar
    from fewlabels.workflow.runs import load_training_data

    if strategy not in COLD_STRATEGIES:
        raise InputError(f"a pretrained body has no classes to be unsure of: strategy must "
                         f"be one of {list(COLD_STRATEGIES)}; got {strategy!r}.")
    body, record_file = Path(body), sidecar(body)
    if not record_file.is_file():
        raise InputError(f"{body}: no {record_file.name} beside it; suggest reads the "
                         "network and data options of `fewlabels pretrain` from it.")
    out = check_output_file(out, body, data, kind="picks")
    if out.resolve() in (body.resolve(), record_file.resolve()):
        raise InputError(f"{out}: is the pretrained body's own file; write the picks elsewhere.")
    record = read_json(record_file)
    read = {**READ_DEFAULTS,
            **{k: v for k, v in record.get("read", {}).items() if k != "stream_unlabeled"}}
    with shown(verbose):
        loaded = load_training_data(data, test=None, stream_unlabeled=False, labels=None,
                                    **read)
        x, y = loaded["x"], loaded["y"]
        pool, labeled = np.flatnonzero(y < 0), np.flatnonzero(y >= 0)
        if not len(pool):
            raise InputError(f"{data}: every item is labeled; there is nothing to suggest.")
        spec = Network(**{k: record["network_options"][k] for k in NETWORK_OPTIONS
                          if k in record.get("network_options", {})},
                       backbone_weights=str(body))
        features = body_features(record["network"], spec, x)
    indices, scores = select(strategy, np.zeros((len(pool), 1)), budget,
                             features=features[pool], labeled_features=features[labeled],
                             seed=seed)
    picks = Picks(pool[indices], scores, [""] * len(indices), np.full(len(indices), np.nan))
    write_picks(out, loaded["key"], [loaded["keys"][i] for i in picks.indices], picks)
    return picks


def body_features(kind: str, spec, x: np.ndarray) -> np.ndarray:
    """The features a pretrained body gives `x`: what the output layer of a `kind` network
    (`"cnn"`, `"mlp"`, ...) built by `spec` (its `backbone_weights` the body) would read.

    Returns:
        `(n, d)` float64.
    """
    from fewlabels.models.body import network_body
    from fewlabels.models.chooser import build_network
    from fewlabels.training.stage import batched_outputs

    network = build_network(kind, x, 2, spec)  # the body's weights loaded; the head unused
    return batched_outputs(network_body(network), x).reshape(len(x), -1).astype(np.float64)


def write_picks(out: Path, key: str, keys: list[str], picks: Picks) -> None:
    """`picks.csv`: the item, an empty `label`, the score, the predicted class and its
    probability (empty for picks from a pretrained body), and the rank, best first."""

    def write(f) -> None:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([key, "label", "score", "predicted", "confidence", "rank"])
        for rank, (item, score, predicted, confidence) in enumerate(
                zip(keys, picks.scores, picks.predicted, picks.confidence, strict=True), 1):
            writer.writerow([csv_cell(item), "", f"{score:.6f}", csv_cell(str(predicted)),
                             "" if np.isnan(confidence) else f"{confidence:.6f}", rank])

    write_atomic(out, write)
