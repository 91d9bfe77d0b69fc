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

Images (`--dataset fashion_mnist`): classes 0-5 (T-shirt, trouser, pullover, dress, coat,
sandal) known, 6-9 (shirt, sneaker, bag, ankle boot) foreign; 12,000 unlabeled known
training images plus the foreign ones, scored on the 6,000 known test images. Each fit is
`--method` (FixMatch) on the 16-32-64 CNN for `--steps` steps; `--no-filter` leaves out the
filter's second fit. Run: `python benchmarks/open_set.py --dataset fashion_mnist --seeds 1
--steps 1000 --no-filter --out benchmarks/results/open_set_fashion_mnist.json --table
docs/benchmarks/open_set_fashion_mnist.md`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    add_resume,
    base_parser,
    compact_cnn_method,
    footer,
    parse_seeds,
    previous_runs,
    write_outputs,
)

KNOWN = (0, 1, 2, 3, 4, 5)
DATASETS = {"digits": "digits (0-5 known, 6-9 foreign)",
            "fashion_mnist": "Fashion-MNIST (T-shirt to sandal known; shirt, sneaker, bag, "
                             "ankle boot foreign)"}
UNLABELED_KNOWN = {"digits": 480, "fashion_mnist": 12_000}
FRACTIONS = (0.0, 0.25, 0.5)
LABELS = (4, 40)
VARIANTS = ("as is", "max-softmax filter", "oracle")
QUANTILE = 0.10
TABLE_DEFAULT = "table-ensemble"
TABLE_METHODS = {TABLE_DEFAULT: {}, "table-ensemble (select=cv)": {"select": "cv"},
                 **{f"table-ensemble ({m} alone)": {"members": (m,)}
                    for m in ("linear", "kernel", "graph")}}
"""Rows: the table ensemble's settings by `--method` name."""


def auroc(scores_known: np.ndarray, scores_foreign: np.ndarray) -> float:
    """The probability that a known row scores above a foreign one (ties count half)."""
    if not len(scores_known) or not len(scores_foreign):
        return float("nan")
    greater = (scores_known[:, None] > scores_foreign[None, :]).mean()
    ties = (scores_known[:, None] == scores_foreign[None, :]).mean()
    return float(greater + ties / 2)


def load(name: str) -> tuple[np.ndarray, ...]:
    """`(x, y, x_test, y_test)`: digits rows (no test split of their own: None), or
    Fashion-MNIST's training and test images."""
    if name == "fashion_mnist":
        from fewlabels.data.images import load_image_dataset

        data = load_image_dataset(name)
        return data.x, data.y, data.x_test, data.y_test
    from fewlabels.data import load_builtin

    data = load_builtin("digits")
    return np.asarray(data.x, dtype=np.float32), np.asarray(data.y), None, None


def split(y: np.ndarray, n: int, fraction: float, seed: int, unlabeled_known: int,
          y_test: np.ndarray | None = None):
    """(labeled rows, unlabeled known rows, foreign rows, test rows) for one setting. Without
    a test set of its own (`y_test`), 30% of the known rows are held out as the test rows;
    with it, the test rows index `y_test`'s known items."""
    from fewlabels.data import labeled_subset, stratified_split

    rng = np.random.default_rng(seed)
    known = np.flatnonzero(np.isin(y, KNOWN))
    foreign = np.flatnonzero(~np.isin(y, KNOWN))
    if y_test is None:
        keep, test = stratified_split(y[known], 0.3, seed)
        pool, test = known[keep], known[test]
    else:
        pool, test = known, np.flatnonzero(np.isin(y_test, KNOWN))
    labeled = pool[labeled_subset(y[pool], n_per_class=n, seed=seed)]
    rest = rng.permutation(np.setdiff1d(pool, labeled))[:unlabeled_known]
    n_foreign = round(unlabeled_known * fraction / (1 - fraction))
    return labeled, rest, rng.permutation(foreign)[:n_foreign], test


def make_model(args, seed: int):
    """Rows: the table ensemble, or `--method` as the ensemble's network member trains (the
    (64, 64) MLP, Adam at 0.003, 600 steps); images: `--method` on the 16-32-64 CNN for
    `--steps` steps (batch 32, `--uratio` unlabeled per labeled)."""
    import fewlabels

    if args.dataset == "digits" and args.method in TABLE_METHODS:
        return fewlabels.TableEnsemble(seed=seed, **TABLE_METHODS[args.method])
    if args.dataset == "digits":
        from fewlabels.estimators.ensemble import NETWORK_RECIPE, NETWORK_STEPS

        return fewlabels.ConsistencyTraining(**{**NETWORK_RECIPE, "method": args.method},
                                             budget=fewlabels.Budget(NETWORK_STEPS),
                                             seed=seed)
    return compact_cnn_method(args.method, args.steps, args.uratio, seed)


def run_setting(data, n: int, fraction: float, seed: int, args) -> list[dict]:
    x, y, x_test, y_test = data
    unlabeled_known = UNLABELED_KNOWN[args.dataset]
    labeled, known_rows, foreign_rows, test = split(y, n, fraction, seed, unlabeled_known,
                                                    y_test)
    x_test, y_test = (x, y) if x_test is None else (x_test, y_test)
    classes = {c: i for i, c in enumerate(KNOWN)}

    def fit(unlabeled):
        rows = np.concatenate([labeled, unlabeled])
        target = np.concatenate([[classes[c] for c in y[labeled]], -np.ones(len(unlabeled))])
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make_model(args, seed).fit(x[rows], target.astype(int))
        truth = [classes[c] for c in y_test[test]]
        accuracy = float(np.mean(model.predict(x_test[test]) == truth))
        return model, accuracy, time.perf_counter() - start

    from fewlabels.novelty import ENERGY, threshold_for
    from fewlabels.workflow.open_set import score_for, scored

    pool = np.concatenate([known_rows, foreign_rows])
    model, plain, wall = fit(pool)
    top = model.predict_proba(x[pool]).max(axis=1)
    score = score_for(model)  # what a run lists the suspected items by
    run_scores = scored(model, x[pool], score)[1]
    listed = run_scores < threshold_for(scored(model, x_test[test], score)[1])
    threshold = np.quantile(model.predict_proba(x[labeled]).max(axis=1), QUANTILE)
    is_foreign = np.isin(pool, foreign_rows)
    base = {"dataset": DATASETS[args.dataset], "n_labeled": len(labeled),
            "labels_per_class": n, "foreign_fraction": fraction, "seed": seed,
            "n_foreign": len(foreign_rows), "n_unlabeled_known": len(known_rows),
            "auroc_max_softmax": round(auroc(top[~is_foreign], top[is_foreign]), 4),
            "auroc_energy": round(auroc(run_scores[~is_foreign], run_scores[is_foreign]), 4)
            if score == ENERGY else None, "listed_by": score,
            "listed_foreign": int(np.sum(is_foreign & listed)),
            "listed_known": int(np.sum(~is_foreign & listed)),
            "dropped_foreign": int(np.sum(is_foreign & (top < threshold))),
            "dropped_known": int(np.sum(~is_foreign & (top < threshold)))}
    if args.dataset != "digits":
        base.update(model=args.method, steps=args.steps, uratio=args.uratio)
    elif args.method != TABLE_DEFAULT:
        base.update(model=args.method)
    runs = [{**base, "method": "as is", "test_accuracy": round(plain, 4),
             "wall_s": round(wall, 1)}]
    if args.filter:
        _, filtered, wall_f = fit(pool[top >= threshold])
        runs.append({**base, "method": "max-softmax filter",
                     "test_accuracy": round(filtered, 4), "wall_s": round(wall + wall_f, 1)})
    # the oracle (foreign removed) of a clean pool is the same fit as it is: not made twice
    oracle, wall_o = (plain, wall) if not len(foreign_rows) else fit(known_rows)[1:]
    runs.append({**base, "method": "oracle", "test_accuracy": round(oracle, 4),
                 "wall_s": round(wall_o, 1)})
    return runs


def main() -> None:
    parser = base_parser("open_set", __doc__.splitlines()[0], default_seeds="3")
    parser.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    parser.add_argument("--method", default=None,
                        help="the method fitted: rows: table-ensemble (default), "
                        "'table-ensemble (select=cv)' or a consistency method on the "
                        "rows; images: a consistency method (default: fixmatch)")
    parser.add_argument("--steps", type=int, default=1000,
                        help="images: training steps per fit (default: 1000)")
    parser.add_argument("--uratio", type=int, default=3,
                        help="images: unlabeled images per labeled one in a batch (default: 3)")
    parser.add_argument("--filter", action=argparse.BooleanOptionalAction, default=True,
                        help="also fit again without the pool items under the max-softmax "
                        "threshold (a second fit per setting)")
    add_resume(parser)
    args = parser.parse_args()
    args.method = args.method or (TABLE_DEFAULT if args.dataset == "digits" else "fixmatch")
    keys = ["dataset"] + (["method", "steps", "uratio"] if args.dataset != "digits" else
                          [] if args.method == TABLE_DEFAULT else ["method"])
    settings = {k: getattr(args, k) for k in keys}
    runs, earlier = previous_runs(args, settings)
    done = {(r["seed"], r["labels_per_class"], r["foreign_fraction"]) for r in runs}
    data = load(args.dataset)
    for seed in parse_seeds(args.seeds):
        for n in LABELS:
            for fraction in FRACTIONS:
                if (seed, n, fraction) in done:
                    continue
                for run in run_setting(data, n, fraction, seed, args):
                    runs.append(run)
                    print(json.dumps(run), flush=True)
                # after every setting: a long job keeps its results, --resume goes on
                write_outputs(args, runs, table, settings=settings, earlier=earlier)


def table(runs, info) -> str:
    seeds = len({r["seed"] for r in runs})
    variants = [v for v in VARIANTS if any(r["method"] == v for r in runs)]
    filtered = "max-softmax filter" in variants
    energy = any(r.get("auroc_energy") is not None for r in runs)
    lines = ["| labels per class | foreign share of the pool | "
             + " | ".join("oracle (foreign removed)" if v == "oracle" else v for v in variants)
             + " | drop as is vs clean pool | AUROC of max-softmax | "
             + ("AUROC of energy | " if energy else "")
             + ("filter dropped: foreign / known | " if filtered else "")
             + f"the run's suspected list ({runs[0].get('listed_by', 'max-softmax')}): "
             "foreign / known |",
             "|---|---|" + "---|" * (len(variants) + 3 + energy + filtered)]
    for n in sorted({r["labels_per_class"] for r in runs}):
        clean = np.mean([r["test_accuracy"] for r in runs if r["labels_per_class"] == n
                         and r["foreign_fraction"] == 0 and r["method"] == "as is"])
        for fraction in sorted({r["foreign_fraction"] for r in runs}):
            cell = [r for r in runs if r["labels_per_class"] == n
                    and r["foreign_fraction"] == fraction]
            acc = {v: np.mean([r["test_accuracy"] for r in cell if r["method"] == v])
                   for v in variants}
            first = [r for r in cell if r["method"] == "as is"]
            foreign = np.mean([r["n_foreign"] for r in first])
            known = np.mean([r["n_unlabeled_known"] for r in first])

            def mean_auroc(kind: str, rows=first) -> str:
                values = [r.get(kind) for r in rows]
                values = [v for v in values if v is not None and v == v]  # not NaN
                return f"{np.mean(values):.3f}" if values else "-"

            def share(kind: str, rows=first, foreign=foreign, known=known) -> str:
                return (f"{np.mean([r[kind + '_foreign'] for r in rows]):.0f} of "
                        f"{foreign:.0f} / {np.mean([r[kind + '_known'] for r in rows]):.0f} "
                        f"of {known:.0f}")
            cells = [f"{acc[v]:.4f}" for v in variants]
            cells += [f"{100 * (acc['as is'] - clean):+.1f} pt",
                      mean_auroc("auroc_max_softmax")]
            cells += [mean_auroc("auroc_energy")] if energy else []
            cells += [share("dropped")] if filtered else []
            cells += [share("listed")]
            lines.append(f"| {n} | {fraction:.0%} | " + " | ".join(cells) + " |")
    first = runs[0]
    model = ("the table ensemble" if "model" not in first else first["model"] if
             first["model"] in TABLE_METHODS else
             f"{first['model']} on the rows as the ensemble's network member trains" if
             "steps" not in first else
             f"{first['model']} on the 16-32-64 CNN, {first['steps']:,} steps, "
             f"{first['uratio']} unlabeled per labeled image")
    lines += ["", f"Mean test accuracy on the known classes over {seeds} seeds ({model}; "
              f"{first['n_unlabeled_known']:,} unlabeled known items, plus the foreign ones)."]
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
