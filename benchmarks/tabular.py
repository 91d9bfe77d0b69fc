"""Tabular benchmark: fewlabels self-training against baselines and scikit-learn.

Datasets: scikit-learn's digits, breast_cancer and wine. For each seed: a stratified 20% test
split; of the remaining rows, 10% of each class keep their labels (at least 2 per class, the
documented `labeled_subset` rule) and the rest are unlabeled. All methods see the same split.

Methods:
- `supervised MLP`: fewlabels' MLP on the labeled rows only (`SelfTraining(rounds=0)`).
- `naive recipe`: the widely copied recipe, with its sparse-label bug fixed: every unlabeled
  row pseudo-labeled with argmax, retrain (same model), fine-tune on the labeled rows.
- `fewlabels self-training`: `SelfTraining()` with its defaults.
- `fewlabels FixMatch (rows)`: `ConsistencyTraining(method="fixmatch")` on the rows, with the
  tabular views (Gaussian noise weak, swap noise strong), Adam at 0.003 for 1,000 steps of
  32 labeled + 224 unlabeled rows, the MLP of the other rows (64, 64).
- `sklearn SelfTraining(LR)`: `SelfTrainingClassifier` around a standardized
  `LogisticRegression` (sklearn defaults otherwise).
- `sklearn LabelSpreading`: standardized features, `kernel="knn"` (the rbf default with
  gamma=20 is degenerate on standardized 64-dimensional data).

Run: `python benchmarks/tabular.py --seeds 5`. It writes `benchmarks/results/tabular.json` and
`docs/benchmarks/tabular.md`.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, mean_std, parse_seeds, summarize, write_outputs

from fewlabels import FewLabelsWarning
from fewlabels.data import labeled_subset, load_builtin, stratified_split
from fewlabels.estimators.self_training import SelfTraining

DATASETS = ("digits", "breast_cancer", "wine")
LABELED_FRACTION = 0.1


def fewlabels_method(**params):
    def run(x, y_partial, seed):
        model = SelfTraining(seed=seed, **params).fit(x, y_partial)
        return model.predict, {"epochs": model.epochs_run_,
                               "pseudo_labeled": int(np.sum(model.labeled_iter_ > 0))}
    return run


def fixmatch_rows(x, y_partial, seed):
    from fewlabels.estimators.consistency import ConsistencyTraining

    model = ConsistencyTraining(method="fixmatch", optimizer="adam", learning_rate=0.003,
                                steps=1000, steps_per_epoch=100, seed=seed).fit(x, y_partial)
    return model.predict, {"steps": model.n_steps_,
                           "mask_rate": round(model.history_["mask_rate"][-1], 4)}


def sklearn_self_training(x, y_partial, seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.semi_supervised import SelfTrainingClassifier

    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    model = SelfTrainingClassifier(base).fit(x, y_partial)
    return model.predict, {"pseudo_labeled": int(np.sum(model.labeled_iter_ > 0))}


def sklearn_label_spreading(x, y_partial, seed):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.semi_supervised import LabelSpreading

    model = make_pipeline(StandardScaler(), LabelSpreading(kernel="knn", n_neighbors=7))
    model.fit(x, y_partial)
    return model.predict, {}


METHODS = {
    "supervised MLP": fewlabels_method(rounds=0, finetune=False),
    "naive recipe": fewlabels_method(criterion="threshold", threshold=0.0, class_balance=False,
                                     rounds=1, warm_start=True, finetune=True),
    "fewlabels self-training": fewlabels_method(),
    "fewlabels FixMatch (rows)": fixmatch_rows,
    "sklearn SelfTraining(LR)": sklearn_self_training,
    "sklearn LabelSpreading": sklearn_label_spreading,
}


def main() -> None:
    parser = base_parser("tabular", __doc__.splitlines()[0], default_seeds="5")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma list of method names")
    args = parser.parse_args()
    from sklearn.metrics import f1_score

    warnings.simplefilter("ignore", FewLabelsWarning)
    runs = []
    for name in args.datasets.split(","):
        table = load_builtin(name)
        x, y = table.x, table.y
        for seed in parse_seeds(args.seeds):
            train, test = stratified_split(y, 0.2, seed)
            keep = labeled_subset(y[train], fraction=LABELED_FRACTION, min_per_class=2,
                                  seed=seed)
            y_partial = np.full(len(train), -1)
            y_partial[keep] = y[train][keep]
            for method in args.methods.split(","):
                start = time.perf_counter()
                predict, extra = METHODS[method](x[train], y_partial, seed)
                wall = time.perf_counter() - start
                pred = predict(x[test])
                run = {
                    "dataset": name, "n_labeled": len(keep), "method": method, "seed": seed,
                    "test_accuracy": float(np.mean(pred == y[test])),
                    "macro_f1": float(f1_score(y[test], pred, average="macro")),
                    "wall_s": round(wall, 3), **extra,
                }
                runs.append(run)
                print(json.dumps(run), flush=True)
    write_outputs(args, runs, table)


def table(runs: list[dict], info: dict) -> str:
    acc = summarize(runs, "test_accuracy", "method", "dataset")
    wall = summarize(runs, "wall_s", "method", "dataset")
    datasets = list(dict.fromkeys(r["dataset"] for r in runs))
    n_labeled = {d: sorted({r["n_labeled"] for r in runs if r["dataset"] == d}) for d in datasets}
    seeds = sorted({r["seed"] for r in runs})
    lines = [
        f"Test accuracy, mean ± std over {len(seeds)} seeds; wall time in seconds (training "
        "and prediction), mean ± std.",
        "",
        "| method | " + " | ".join(f"{d} ({'/'.join(map(str, n_labeled[d]))} labels)"
                                    for d in datasets) + " | mean accuracy | time s (" +
        " / ".join(datasets) + ") |",
        "|---|" + "---|" * (len(datasets) + 2),
    ]
    for method in acc:
        means = [np.mean(acc[method][d]) for d in datasets]
        lines.append(
            f"| {method} | " + " | ".join(mean_std(acc[method][d]) for d in datasets)
            + f" | {np.mean(means):.3f} | "
            + " / ".join(f"{np.mean(wall[method][d]):.1f} ± {np.std(wall[method][d]):.1f}"
                         for d in datasets) + " |"
        )
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
