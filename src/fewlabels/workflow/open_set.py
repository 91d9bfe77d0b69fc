"""Open-set pools in a run: the unlabeled items that look foreign to the known classes.

After training, a run scores its unlabeled pool with `fewlabels.novelty` (`score_for`: the
energy of a network's logits; the largest class probability for the table ensemble, which
has no logits), sets the threshold on its test rows (the score 95% of them reach; the
labeled training rows when there are no test rows), and writes:

- `RUN_DIR/suspected.csv`: every pool item below the threshold, the least known first:
  `row`, `path` or `index` (as `fewlabels suggest` names items), `score`, `predicted`;
- `metrics.json`'s `open_set`: the score, the threshold and where it came from, the pool's
  size, how many items are suspected and the first `SHOWN` of them (the report lists them);
- `RUN_DIR/suspected.npz` for an image run: the first images, shown in the report.

`fewlabels predict RUN DATA --unknown` then names `UNKNOWN` every item below the run's
threshold on the run's score (or, given a threshold in [0, 1], every item whose largest
class probability is below it). The run measures and reports; it does not drop the
suspected items from training: the open-set benchmark found that such a filter costs
accuracy at few labels (docs/open-set.md).
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from fewlabels.errors import InputError
from fewlabels.files import csv_cell, inside, read_json, write_atomic
from fewlabels.novelty import (
    ENERGY,
    KNOWN_RECALL,
    SCORE,
    energy_scores,
    known_scores,
    suspected,
    threshold_for,
)
from fewlabels.workflow.rundir import METRICS_FILE

SUSPECTED_FILE = "suspected.csv"
SUSPECTED_IMAGES = "suspected.npz"
SHOWN = 20
"""How many suspected items `metrics.json` (and so the report) lists; the CSV has them all."""
IMAGES_SHOWN = 8
ADVISE_ABOVE = 0.10
"""The share of the pool suspected above which a table run advises `select="cv"`: twice the
share a pool of known items alone puts below the threshold by design (5%). On the open-set
benchmark a clean pool had 3-5% suspected, pools a quarter to half foreign 15-37%."""
UNKNOWN = "unknown"
"""The class `predict --unknown` writes for an item below the threshold."""


@dataclasses.dataclass
class PoolScores:
    """A run's pool, scored.

    Attributes:
        record: what `metrics.json` keeps under `open_set`.
        keys: the suspected items' names, the least known first.
        scores: their scores.
        predicted: their predicted class indices.
        images: the first `IMAGES_SHOWN` suspected images (image runs), else None.
    """

    record: dict
    keys: list[str]
    scores: np.ndarray
    predicted: np.ndarray
    images: np.ndarray | None


def score_for(estimator) -> str:
    """The score a run reads foreign items by: `"energy"` for a model with logits (every
    network), else `"max-softmax"` (the table ensemble)."""
    return ENERGY if estimator.has_logits() else SCORE


def scored(estimator, x, score: str) -> tuple[np.ndarray, np.ndarray]:
    """`(probabilities, scores)` of the items `x` by `score` (one pass over them).

    Args:
        estimator: a fitted estimator.
        x: the items.
        score: `"energy"` (needs `estimator.has_logits()`) or `"max-softmax"`.
    """
    if score == ENERGY:
        from scipy.special import softmax

        logits = estimator.logits(x)
        return softmax(logits, axis=1), energy_scores(logits)
    proba = estimator.predict_proba(x)
    return proba, known_scores(proba)


def score_pool(estimator, x_pool, keys: list[str], x_known, *, key: str, known_from: str,
               not_scored: int = 0) -> PoolScores:
    """Score the unlabeled pool and pick the suspected foreign items.

    Args:
        estimator: the fitted estimator.
        x_pool: the unlabeled items the method trained on (in memory).
        keys: each pool item's name (`key` kind).
        x_known: labeled items of the known classes the model did not train on, if any
            (else the labeled training items), for the threshold.
        key: `"row"`, `"path"` or `"index"`.
        known_from: what `x_known` is, for the record.
        not_scored: unlabeled items left out (streamed from disk during training).

    Returns:
        A `PoolScores`.
    """
    score = score_for(estimator)
    threshold = threshold_for(scored(estimator, x_known, score)[1])
    proba, scores = scored(estimator, x_pool, score) if len(x_pool) else (np.zeros((0, 1)),
                                                                          np.zeros(0))
    rows = suspected(scores, threshold)
    predicted = proba.argmax(axis=1)[rows] if len(x_pool) else np.zeros(0, np.int64)
    classes = list(estimator.classes_)
    record = {
        "score": score, "known_recall": KNOWN_RECALL, "threshold": threshold,
        "threshold_from": known_from, "pool": len(scores), "not_scored": int(not_scored),
        "suspected": len(rows), "key": key, "file": SUSPECTED_FILE,
        "shown": [{"item": keys[r], "score": round(float(scores[r]), 6),
                   "predicted": _plain(classes[int(p)])}
                  for r, p in zip(rows[:SHOWN], predicted[:SHOWN], strict=True)],
    }
    record["advice"] = advice(estimator, record)
    images = np.asarray(x_pool)[rows[:IMAGES_SHOWN]] if np.ndim(x_pool) == 4 else None
    return PoolScores(record, [keys[r] for r in rows], scores[rows], predicted, images)


def advice(estimator, record: dict) -> str | None:
    """What to do about a pool that looks foreign in part, when the measurements say
    something: a table ensemble that averages its members, with more than `ADVISE_ABOVE` of
    its pool suspected, is advised `select="cv"` (docs/open-set.md). None otherwise."""
    share = record["suspected"] / record["pool"] if record["pool"] else 0.0
    if share <= ADVISE_ABOVE or getattr(estimator, "select", None) != "average":
        return None
    return (f"{share:.0%} of the pool looks foreign (a pool of known items alone puts about "
            f"{1 - record['known_recall']:.0%} below the threshold): if it holds other "
            "classes, --select cv (select=\"cv\") kept the known classes' accuracy on such "
            "tables, where the average of the members lost up to 1.6 points "
            "(docs/open-set.md).")


def summary(record: dict | None) -> str | None:
    """One line on the pool's suspected items (and the advice, if any), for the screen."""
    if not isinstance(record, dict) or not record.get("pool"):
        return None
    line = (f"{record['suspected']} of the {record['pool']} unlabeled items score below the "
            f"open-set threshold ({record['score']}): {record['file']} lists them.")
    return line + (f" {record['advice']}" if record.get("advice") else "")


def write_suspected(folder: Path, pool: PoolScores, classes: list) -> None:
    """Write `suspected.csv` (and `suspected.npz` for images) into the run `folder`."""
    from fewlabels.data.folders import as_pixels

    def write(f) -> None:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([pool.record["key"], "score", "predicted"])
        for name, score, p in zip(pool.keys, pool.scores, pool.predicted, strict=True):
            writer.writerow([csv_cell(name), f"{score:.6f}", csv_cell(classes[int(p)])])

    write_atomic(inside(folder, SUSPECTED_FILE), write)
    if pool.images is not None and len(pool.images):
        arrays = {"images": as_pixels(pool.images),
                  "scores": pool.scores[:IMAGES_SHOWN].astype(np.float32),
                  "predicted": pool.predicted[:IMAGES_SHOWN].astype(np.int64)}
        write_atomic(inside(folder, SUSPECTED_IMAGES), lambda f: np.savez(f, **arrays),
                     binary=True)


def run_threshold(run_dir: str | Path) -> tuple[str, float]:
    """The open-set score and threshold a run recorded (`metrics.json`'s `open_set`)."""
    path = Path(run_dir) / METRICS_FILE
    record = read_json(path).get("open_set") if path.is_file() else None
    if not isinstance(record, dict) or not isinstance(record.get("threshold"), int | float):
        raise InputError(f"{run_dir}: the run recorded no open-set threshold (runs written "
                         "before fewlabels scored their pool); give one: --unknown 0.6.")
    score = record.get("score", SCORE)
    if score not in (SCORE, ENERGY):
        raise InputError(f"{path}: open_set's score is {score!r}; fewlabels reads "
                         f"{SCORE!r} or {ENERGY!r}.")
    return score, float(record["threshold"])


def check_unknown(unknown, classes, score: str = SCORE) -> float | None:
    """`predict`'s `unknown` as a threshold (None: off), checked at the door: in [0, 1] on
    the largest class probability; any finite number on the energy (a run's)."""
    if unknown is None or unknown is False:
        return None
    if UNKNOWN in [str(c) for c in classes]:
        raise InputError(f"a class is named {UNKNOWN!r}, so predict cannot write it for "
                         "items below the threshold.")
    if score == ENERGY and not isinstance(unknown, bool) and isinstance(unknown, int | float) \
            and np.isfinite(unknown):
        return float(unknown)
    if isinstance(unknown, bool) or not isinstance(unknown, int | float) \
            or not 0.0 <= unknown <= 1.0:
        raise InputError(f"unknown must be a threshold in [0, 1] (or True: the run's); "
                         f"got {unknown!r}.")
    return float(unknown)


def _plain(value):
    """A class name as JSON keeps it (NumPy scalars as Python ones)."""
    return value.item() if hasattr(value, "item") else value
