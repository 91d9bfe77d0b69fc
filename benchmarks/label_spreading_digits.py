"""scikit-learn's "Label Propagation digits" gallery example, against the table ensemble.

The example: 340 digits (8x8 pixels as 64 features, values 0-16) in a seeded order, the
first 40 labeled, `LabelSpreading(gamma=0.25, max_iter=20)`; accuracy on the 300 others
(transduction). Each seed reshuffles (the gallery's seed is 2). The table ensemble runs
with `scaling="standard"` (each pixel scaled to unit variance) and its default `"auto"`
(one shared scale for pixels), whole and without its network member; `stage` rows score
one member. Usage: `python benchmarks/label_spreading_digits.py --seeds 2,0,1`.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from _common import base_parser, footer, parse_seeds, write_outputs

METHODS = {
    "sklearn LabelSpreading": None,
    "table-ensemble (standard scaling)": dict(scaling="standard"),
    "table-ensemble": {},
    "table-ensemble (no network)": dict(members=("linear", "kernel", "graph")),
}
STAGES = ("final", "linear", "kernel", "graph", "network")


def gallery_split(seed: int):
    """The gallery example's 340 rows, its 40 labels, and the true labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.arange(len(digits.data))
    np.random.RandomState(seed).shuffle(order)
    x, y = digits.data[order[:340]], digits.target[order[:340]]
    partial = y.copy()
    partial[40:] = -1
    return x, y, partial


def run(method: str, seed: int) -> dict:
    from sklearn.semi_supervised import LabelSpreading

    from fewlabels import TableEnsemble

    x, y, partial = gallery_split(seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (two classes have a single label)
        if METHODS[method] is None:
            model = LabelSpreading(gamma=0.25, max_iter=20).fit(x, partial)
            wall = time.perf_counter() - start
            return {"test_accuracy": float(np.mean(model.transduction_[40:] == y[40:])),
                    "wall_s": round(wall, 3)}
        model = TableEnsemble(seed=0, **METHODS[method]).fit(x, partial)
    wall = time.perf_counter() - start
    stages = {s: model.evaluate(x[40:], y[40:], stage=s)["accuracy"] for s in STAGES
              if s in ("final", *model.member_names())}
    return {"test_accuracy": stages["final"], "wall_s": round(wall, 3),
            "members": {s: round(v, 4) for s, v in stages.items() if s != "final"},
            "scaling": model.scaling_}


def table(runs: list[dict], info: dict) -> str:
    lines = ["Accuracy on the 300 unlabeled rows, mean over seeds; members scored alone.", "",
             "| method | scaling | accuracy | linear | kernel | graph | network | time s |",
             "|---|---|---|---|---|---|---|---|"]
    for method in METHODS:
        rows = [r for r in runs if r["method"] == method]
        if not rows:
            continue
        member = {s: np.mean([r["members"][s] for r in rows]) if "members" in rows[0]
                  and s in rows[0]["members"] else None for s in STAGES[1:]}
        cells = [f"{v:.3f}" if v is not None else "-" for v in member.values()]
        lines.append(f"| {method} | {rows[0].get('scaling', '-')} | "
                     f"{np.mean([r['test_accuracy'] for r in rows]):.3f} | "
                     f"{' | '.join(cells)} | {np.mean([r['wall_s'] for r in rows]):.2f} |")
    return "\n".join(lines + footer(info))


def main() -> None:
    parser = base_parser("label_spreading_digits", __doc__.splitlines()[0], "2,0,1")
    args = parser.parse_args()
    runs = []
    for seed in parse_seeds(args.seeds):
        for method in METHODS:
            record = {"dataset": "digits (gallery)", "n_labeled": 40, "method": method,
                      "seed": seed, **run(method, seed)}
            print(record, flush=True)
            runs.append(record)
    write_outputs(args, runs, table)


if __name__ == "__main__":
    main()
