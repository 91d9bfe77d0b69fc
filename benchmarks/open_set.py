"""Open-set unlabeled pools: foreign classes in the pool, and what they cost the known ones.

Digits as rows: classes 0-5 are known, 6-9 foreign. Each seed holds out 30% of the known
rows as the test set, keeps `n` labels per known class (4 or 40, stratified and seeded) and
480 unlabeled known rows, and adds foreign rows to the unlabeled pool until they are 0%,
25% or 50% of it. The table ensemble (the default for tables) is fitted on the pool three
ways, each scored on the known test rows:

- `as is`: the pool with its foreign rows;
- `max-softmax filter`: fitted once, the unlabeled rows whose top probability falls below
  the 10th percentile of the labeled rows' top probabilities dropped, then fitted again;
- `oracle`: the foreign rows removed by their true class (the bound a filter can reach).

It also reports how well the first fit's top probability separates foreign from known
unlabeled rows (AUROC: 0.5 is chance), and what a run's suspected list holds: the pool rows
below the threshold a run sets (`fewlabels.novelty.threshold_for` on the test rows: 95% of
known rows stay above it), foreign and known. Run: `python benchmarks/open_set.py --seeds 3`.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, parse_seeds, write_outputs

KNOWN = (0, 1, 2, 3, 4, 5)
UNLABELED_KNOWN = 480
FRACTIONS = (0.0, 0.25, 0.5)
LABELS = (4, 40)
VARIANTS = ("as is", "max-softmax filter", "oracle")
QUANTILE = 0.10


def auroc(scores_known: np.ndarray, scores_foreign: np.ndarray) -> float:
    """The probability that a known row scores above a foreign one (ties count half)."""
    if not len(scores_known) or not len(scores_foreign):
        return float("nan")
    greater = (scores_known[:, None] > scores_foreign[None, :]).mean()
    ties = (scores_known[:, None] == scores_foreign[None, :]).mean()
    return float(greater + ties / 2)


def split(y: np.ndarray, n: int, fraction: float, seed: int):
    """(labeled rows, unlabeled known rows, foreign rows, test rows) for one setting."""
    from fewlabels.data import labeled_subset, stratified_split

    rng = np.random.default_rng(seed)
    known = np.flatnonzero(np.isin(y, KNOWN))
    foreign = np.flatnonzero(~np.isin(y, KNOWN))
    keep, test = stratified_split(y[known], 0.3, seed)
    pool = known[keep]
    labeled = pool[labeled_subset(y[pool], n_per_class=n, seed=seed)]
    rest = rng.permutation(np.setdiff1d(pool, labeled))[:UNLABELED_KNOWN]
    n_foreign = round(UNLABELED_KNOWN * fraction / (1 - fraction))
    return labeled, rest, rng.permutation(foreign)[:n_foreign], known[test]


def run_setting(x, y, n: int, fraction: float, seed: int) -> list[dict]:
    import fewlabels

    labeled, known_rows, foreign_rows, test = split(y, n, fraction, seed)
    classes = {c: i for i, c in enumerate(KNOWN)}

    def fit(unlabeled):
        rows = np.concatenate([labeled, unlabeled])
        target = np.concatenate([[classes[c] for c in y[labeled]], -np.ones(len(unlabeled))])
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fewlabels.TableEnsemble(seed=seed).fit(x[rows], target.astype(int))
        accuracy = float(np.mean(model.predict(x[test]) == [classes[c] for c in y[test]]))
        return model, accuracy, time.perf_counter() - start

    from fewlabels.novelty import known_scores, threshold_for

    pool = np.concatenate([known_rows, foreign_rows])
    model, plain, wall = fit(pool)
    top = model.predict_proba(x[pool]).max(axis=1)
    listed = top < threshold_for(known_scores(model.predict_proba(x[test])))
    threshold = np.quantile(model.predict_proba(x[labeled]).max(axis=1), QUANTILE)
    kept = pool[top >= threshold]
    _, filtered, wall_f = fit(kept)
    _, oracle, wall_o = fit(known_rows)
    is_foreign = np.isin(pool, foreign_rows)
    base = {"dataset": "digits (0-5 known, 6-9 foreign)", "n_labeled": len(labeled),
            "labels_per_class": n, "foreign_fraction": fraction, "seed": seed,
            "n_foreign": len(foreign_rows),
            "auroc_max_softmax": round(auroc(top[~is_foreign], top[is_foreign]), 4),
            "listed_foreign": int(np.sum(is_foreign & listed)),
            "listed_known": int(np.sum(~is_foreign & listed))}
    dropped = {"dropped_foreign": int(np.sum(is_foreign & (top < threshold))),
               "dropped_known": int(np.sum(~is_foreign & (top < threshold)))}
    return [
        {**base, "method": "as is", "test_accuracy": round(plain, 4), "wall_s": round(wall, 1)},
        {**base, **dropped, "method": "max-softmax filter", "test_accuracy": round(filtered, 4),
         "wall_s": round(wall + wall_f, 1)},
        {**base, "method": "oracle", "test_accuracy": round(oracle, 4),
         "wall_s": round(wall_o, 1)},
    ]


def main() -> None:
    from fewlabels.data import load_builtin

    parser = base_parser("open_set", __doc__.splitlines()[0], default_seeds="3")
    args = parser.parse_args()
    data = load_builtin("digits")
    x, y = np.asarray(data.x, dtype=np.float32), np.asarray(data.y)
    runs = []
    for seed in parse_seeds(args.seeds):
        for n in LABELS:
            for fraction in FRACTIONS:
                for run in run_setting(x, y, n, fraction, seed):
                    runs.append(run)
                    print(json.dumps(run), flush=True)
    write_outputs(args, runs, table)


def table(runs, info) -> str:
    seeds = len({r["seed"] for r in runs})
    lines = ["| labels per class | foreign share of the pool | as is | max-softmax filter | "
             "oracle (foreign removed) | drop as is vs clean pool | AUROC of max-softmax | "
             "filter dropped: foreign / known | the run's suspected list: foreign / known |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n in LABELS:
        clean = np.mean([r["test_accuracy"] for r in runs if r["labels_per_class"] == n
                         and r["foreign_fraction"] == 0 and r["method"] == "as is"])
        for fraction in FRACTIONS:
            cell = [r for r in runs if r["labels_per_class"] == n
                    and r["foreign_fraction"] == fraction]
            acc = {v: np.mean([r["test_accuracy"] for r in cell if r["method"] == v])
                   for v in VARIANTS}
            filt = [r for r in cell if r["method"] == "max-softmax filter"]
            foreign = np.mean([r["n_foreign"] for r in filt])
            aurocs = [r["auroc_max_softmax"] for r in filt if r["auroc_max_softmax"] == r[
                "auroc_max_softmax"]]
            listed = (f" {np.mean([r['listed_foreign'] for r in filt]):.0f} of {foreign:.0f} / "
                      f"{np.mean([r['listed_known'] for r in filt]):.0f} of "
                      f"{UNLABELED_KNOWN} |")
            lines.append(
                f"| {n} | {fraction:.0%} | {acc['as is']:.4f} | {acc['max-softmax filter']:.4f}"
                f" | {acc['oracle']:.4f} | {100 * (acc['as is'] - clean):+.1f} pt | "
                f"{np.mean(aurocs):.3f} | "
                f"{np.mean([r['dropped_foreign'] for r in filt]):.0f} of {foreign:.0f} / "
                f"{np.mean([r['dropped_known'] for r in filt]):.0f} of {UNLABELED_KNOWN} |"
                + listed if aurocs else
                f"| {n} | {fraction:.0%} | {acc['as is']:.4f} | {acc['max-softmax filter']:.4f}"
                f" | {acc['oracle']:.4f} | {100 * (acc['as is'] - clean):+.1f} pt | - | "
                f"0 of 0 / {np.mean([r['dropped_known'] for r in filt]):.0f} of "
                f"{UNLABELED_KNOWN} |" + listed)
    lines += ["", f"Mean test accuracy on the known classes over {seeds} seeds (the table "
              "ensemble; 480 unlabeled known rows, plus the foreign ones)."]
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
