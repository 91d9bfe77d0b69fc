"""Active learning: accuracy against the number of labels, each strategy against random picks.

A simulated annotator holds the hidden labels. Each seed holds out a stratified test split
(30%), starts from 1 label per class (a seeded stratified choice) and runs `--rounds` rounds:
fit the method on the pool (labeled + unlabeled), measure the test accuracy, then ask
`fewlabels.workflow.suggest.suggest` for `--budget` more items by the strategy and reveal
their labels. `random` picks uniformly (seeded), the baseline. Every strategy starts from
the same labels on the same split, so the curves differ only by what was picked.

The target: the best strategy reaches random picking's final accuracy (mean over seeds)
with at most 60% of random's labels (`labels to reach random's final`, linear between
rounds).

Images (`--dataset fashion_mnist`): the pool is a seeded stratified `--pool` of the training
images, the test set the 10,000 test images, and each round trains the 16-32-64 CNN from
scratch for `--steps` steps (`--method supervised` or `fixmatch`).

Run: `python benchmarks/active_learning.py --seeds 3`. It writes
`benchmarks/results/active_learning.json` and `docs/benchmarks/active_learning.md`.
"""

from __future__ import annotations

import itertools
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

STRATEGIES = ("random", "margin", "entropy", "k-center", "diverse-margin", "typical")


def _fewlabels():
    import fewlabels

    return fewlabels


def _cnn(method: str):
    """A consistency method on the compact CNN, `args.steps` steps and `args.uratio`
    unlabeled images per labeled one."""
    def build(seed: int, args):
        return compact_cnn_method(method, args.steps, args.uratio, seed)
    return build


METHODS = {
    # The table default, and self-training of the MLP (both retrained from scratch each
    # round, with their default budgets).
    "table-ensemble": lambda seed, args: _fewlabels().TableEnsemble(seed=seed),
    "self-training": lambda seed, args: _fewlabels().SelfTraining(seed=seed),
    # Images: the CNN retrained from scratch each round for `--steps` steps.
    "supervised": _cnn("supervised"),
    "fixmatch": _cnn("fixmatch"),
}


def load(name: str, pool_size: int, seed: int) -> tuple[np.ndarray, ...]:
    """`(x_pool, y_pool, x_test, y_test)` of one seed. Tables (`digits`): a stratified 30%
    test split, the rest the pool. Images (`fashion_mnist`): a seeded stratified pool of
    `pool_size` training images, scored on the data set's test images."""
    from fewlabels.data import load_builtin, stratified_split
    from fewlabels.data.images import load_image_dataset

    if name == "fashion_mnist":
        data = load_image_dataset(name)
        _rest, pool = stratified_split(data.y, pool_size / len(data.y), seed)
        return data.x[pool], data.y[pool], data.x_test, data.y_test
    data = load_builtin(name)
    x, y = np.asarray(data.x, dtype=np.float32), np.asarray(data.y)
    pool, test = stratified_split(y, 0.3, seed)
    return x[pool], y[pool], x[test], y[test]


def one_curve(data, method: str, strategy: str, seed: int, args) -> dict:
    """The accuracy after each round of one strategy on one seed's split."""
    from fewlabels.data import labeled_subset
    from fewlabels.workflow.suggest import suggest

    x, y, x_test, y_test = data
    known = np.zeros(len(y), bool)
    known[labeled_subset(y, n_per_class=1, seed=seed)] = True
    curve, start = [], time.perf_counter()
    for r in range(args.rounds + 1):
        partial = np.where(known, y, -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = METHODS[method](seed, args).fit(x, partial)
        accuracy = float(np.mean(model.predict(x_test) == y_test))
        curve.append([int(known.sum()), round(accuracy, 4)])
        if r == args.rounds:
            break
        unknown = np.flatnonzero(~known)
        picks = suggest(model, x[unknown], args.budget, strategy=strategy,
                        labeled=x[known], seed=seed * 1000 + r)
        known[unknown[picks.indices]] = True  # the annotator reveals them
    return {"test_accuracy": curve[-1][1], "wall_s": round(time.perf_counter() - start, 1),
            "labels_curve": curve}


def main() -> None:
    parser = base_parser("active_learning", __doc__.splitlines()[0], default_seeds="3")
    parser.add_argument("--dataset", default="digits", choices=("digits", "fashion_mnist"))
    parser.add_argument("--method", default="self-training", choices=list(METHODS))
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=10, help="labels added per round")
    parser.add_argument("--steps", type=int, default=300,
                        help="images: training steps of each round's CNN (default: 300)")
    parser.add_argument("--uratio", type=int, default=7,
                        help="images: unlabeled images per labeled one in a batch (default: 7)")
    parser.add_argument("--pool", type=int, default=20_000,
                        help="images: training images in the pool (default: 20,000)")
    add_resume(parser)
    args = parser.parse_args()
    keys = ["dataset", "method", "rounds", "budget"]
    if args.dataset == "fashion_mnist":
        keys += ["steps", "uratio", "pool"]
    settings = {k: getattr(args, k) for k in keys}
    runs, earlier = previous_runs(args, settings)
    done = {(r["seed"], r["strategy"]) for r in runs}
    for seed in parse_seeds(args.seeds):
        todo = [s for s in args.strategies.split(",") if (seed, s) not in done]
        data = load(args.dataset, args.pool, seed) if todo else None
        for strategy in todo:
            run = {"dataset": args.dataset, "n_labeled": None, "method": args.method,
                   "strategy": strategy, "seed": seed,
                   **{k: getattr(args, k) for k in keys[2:]},
                   **one_curve(data, args.method, strategy, seed, args)}
            run["n_labeled"] = run["labels_curve"][-1][0]
            runs.append(run)
            print(json.dumps(run), flush=True)
            # after every curve: a long job keeps its results, --resume goes on
            write_outputs(args, runs, table, settings=settings, earlier=earlier)


def labels_to_reach(curve, level: float) -> float | None:
    """The labels at which a mean curve first reaches `level`, linear between rounds."""
    for (n0, a0), (n1, a1) in itertools.pairwise(curve):
        if a0 >= level:
            return float(n0)
        if a1 >= level:
            return n0 + (n1 - n0) * (level - a0) / (a1 - a0)
    return float(curve[0][0]) if curve and curve[0][1] >= level else None


def table(runs, info) -> str:
    strategies = [s for s in STRATEGIES if any(r["strategy"] == s for r in runs)]
    mean = {}
    for s in strategies:
        curves = np.array([r["labels_curve"] for r in runs if r["strategy"] == s], float)
        mean[s] = curves.mean(axis=0)  # (rounds + 1, 2): labels, accuracy
    labels = [int(n) for n in mean[strategies[0]][:, 0]]
    seeds = len({r["seed"] for r in runs})
    lines = [f"| strategy | {' | '.join(f'{n} labels' for n in labels)} | labels to reach "
             "random's final | share of random's labels |",
             "|---|" + "---|" * (len(labels) + 2)]
    final = mean["random"][-1, 1] if "random" in mean else None
    for s in strategies:
        reach = None if final is None else labels_to_reach(mean[s].tolist(), final)
        share = "" if reach is None else f"{reach / labels[-1]:.0%}"
        lines.append(f"| {s} | " + " | ".join(f"{a:.4f}" for a in mean[s][:, 1])
                     + f" | {'not reached' if reach is None else f'{reach:.1f}'} | {share} |")
    method, dataset = runs[0]["method"], runs[0]["dataset"]
    lines.append("")
    cnn = (f" on the 16-32-64 CNN, {runs[0]['steps']} steps, {runs[0]['uratio']} unlabeled "
           f"per labeled image, a pool of {runs[0]['pool']:,} training images, the 10,000 "
           "test images" if "steps" in runs[0] else "")
    lines.append(f"Mean test accuracy over {seeds} seeds ({dataset}, {method}{cnn} retrained "
                 f"from scratch each round, {runs[0]['budget']} labels per round; start: 1 "
                 "label per class, the same for every strategy).")
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
