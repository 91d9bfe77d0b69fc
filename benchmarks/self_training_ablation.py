"""Ablation: what each self-training default buys, on the demo setting.

scikit-learn's digits; per seed, a stratified 20% test split, and 5 labels per class from the
rest (`labeled_subset(n_per_class=5)`); every other training row unlabeled. Each variant
changes one `SelfTraining` default. The supervised MLP is `rounds=0`.

Run: `python benchmarks/self_training_ablation.py --seeds 3`. It writes
`benchmarks/results/self_training_ablation.json` and `docs/benchmarks/self_training_ablation.md`.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, mean_std, parse_seeds, write_outputs

from fewlabels import FewLabelsWarning
from fewlabels.data import labeled_subset, load_builtin, stratified_split
from fewlabels.estimators.self_training import SelfTraining

VARIANTS = {
    "supervised MLP (rounds=0)": dict(rounds=0, finetune=False),
    "defaults": {},
    "class_balance=False": dict(class_balance=False),
    "min_steps=0": dict(min_steps=0),
    "threshold=0.8": dict(threshold=0.8),
    "threshold=0.95": dict(threshold=0.95),
    "warm_start=True": dict(warm_start=True),
    "finetune=False": dict(finetune=False),
}


def main() -> None:
    parser = base_parser("self_training_ablation", __doc__.splitlines()[0], default_seeds="3")
    parser.add_argument("--n-per-class", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore", FewLabelsWarning)
    table = load_builtin("digits")
    x, y = table.x, table.y
    runs = []
    for seed in parse_seeds(args.seeds):
        train, test = stratified_split(y, 0.2, seed)
        keep = labeled_subset(y[train], n_per_class=args.n_per_class, seed=seed)
        y_partial = np.full(len(train), -1)
        y_partial[keep] = y[train][keep]
        y_hidden = np.where(y_partial < 0, y[train], -1)
        for name, params in VARIANTS.items():
            start = time.perf_counter()
            model = SelfTraining.for_method("self-training", seed=seed, **params)  # flat
            model.fit(x[train], y_partial, y_hidden=y_hidden)
            wall = time.perf_counter() - start
            pseudo = model.labeled_iter_ > 0
            run = {
                "dataset": "digits", "n_labeled": len(keep), "method": name, "seed": seed,
                "test_accuracy": float(np.mean(model.predict(x[test]) == y[test])),
                "wall_s": round(wall, 3), "epochs": model.epochs_run_,
                "pseudo_labeled": int(pseudo.sum()),
                "pseudo_label_accuracy": (float(np.mean(model.transduction_[pseudo]
                                                        == y[train][pseudo]))
                                          if pseudo.any() else None),
            }
            runs.append(run)
            print(json.dumps(run), flush=True)
    write_outputs(args, runs, table)


def table(runs: list[dict], info: dict) -> str:
    seeds = sorted({r["seed"] for r in runs})
    lines = [
        f"digits, {runs[0]['n_labeled']} labels (5 per class), mean ± std over {len(seeds)} "
        "seeds.",
        "",
        "| variant | test accuracy | pseudo-labels | pseudo-label accuracy | time s |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["method"] for r in runs):
        rs = [r for r in runs if r["method"] == name]
        pla = [r["pseudo_label_accuracy"] for r in rs if r["pseudo_label_accuracy"] is not None]
        lines.append(
            f"| {name} | {mean_std([r['test_accuracy'] for r in rs])} | "
            f"{np.mean([r['pseudo_labeled'] for r in rs]):.0f} | "
            f"{mean_std(pla) if pla else '-'} | {mean_std([r['wall_s'] for r in rs])} |"
        )
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
