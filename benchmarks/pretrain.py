"""Self-supervised pretraining: what the pool teaches a network's body, step by step.

For each pretraining budget (`--steps`, 0 = the network's random initial weights) the body
is pretrained on every training item with no label (`fewlabels.estimators.pretrain`: SimCLR
for images, SCARF for rows) and its features are probed with few labels
(`hide_labels(y, n, seed)`), never fine-tuned:

- `kNN`: the 20 nearest labeled items by cosine similarity, majority vote;
- `linear probe`: logistic regression on the standardized features.

Both are scored on the data set's test split, and also on the input itself (pixels or
rows, flattened: the bar a body must clear to be worth its features). The wall time is the
pretraining's.

Data: `fashion_mnist` (60,000 pool images, 40 labels per class, the 16-32-64 CNN of the
Fashion-MNIST recipe; both views the `strong` policy), `digits` (8x8 images, 10 labels per
class, a 16-32 CNN, views never mirrored) and `digits-rows` (the same digits as 64 features,
70% of them the pool, the (64, 64) MLP, SCARF). Batches of 128 items, Adam at 0.001.

Run: `python benchmarks/pretrain.py --data fashion_mnist --steps 0,250,500,1000 --seeds 1`.

`--fit METHOD,...` asks instead whether pretraining pays inside a method: each method
(`supervised`, `fixmatch`, ... through `ConsistencyTraining`, its default recipe) is trained
for `--fit-steps` steps from random weights and from a body pretrained for `--steps` steps
(one budget), on the same labels, and scored on the test split; the wall time adds the
pretraining to the fit. Run: `python benchmarks/pretrain.py --data digits --fit
supervised,fixmatch --steps 1000 --fit-steps 300 --seeds 3`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, mean_std, parse_seeds, write_outputs

SETTINGS = {
    "fashion_mnist": {"labels": 40, "widths": (16, 32, 64), "batch": 128, "flip": True},
    "digits": {"labels": 10, "widths": (16, 32), "batch": 128, "flip": False},
    "digits-rows": {"labels": 10, "hidden": (64, 64), "batch": 128},
}


def load(name: str):
    """(x_train, y_train, x_test, y_test) of a data set."""
    from fewlabels.data import load_builtin
    from fewlabels.data.images import load_image_dataset

    if name == "digits-rows":
        from fewlabels.data import stratified_split

        table = load_builtin("digits")
        keep, test = stratified_split(table.y, 0.3, 0)
        return table.x[keep], table.y[keep], table.x[test], table.y[test]
    data = load_image_dataset(name)
    return data.x, data.y, data.x_test, data.y_test


def spec_for(name: str):
    from fewlabels import Network

    s = SETTINGS[name]
    return Network("mlp", hidden_units=s["hidden"], dropout=0.0) if "hidden" in s else \
        Network("cnn", cnn_widths=s["widths"])


def body_features(network, x: np.ndarray) -> np.ndarray:
    from fewlabels.models.body import network_body

    return network_body(network).predict(np.asarray(x, dtype=np.float32), batch_size=512,
                                         verbose=0)


def probes(f_train, y_train, f_test, y_test, labeled: np.ndarray) -> dict:
    """kNN (k = 20, cosine) and a logistic-regression probe on the labeled features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    knn = KNeighborsClassifier(n_neighbors=min(20, len(labeled)), metric="cosine")
    knn.fit(f_train[labeled], y_train[labeled])
    linear = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    linear.fit(f_train[labeled], y_train[labeled])
    return {"knn": round(float(np.mean(knn.predict(f_test) == y_test)), 4),
            "linear_probe": round(float(np.mean(linear.predict(f_test) == y_test)), 4)}


def raw_row(name: str, seed: int, data) -> dict:
    """The probes on the input itself."""
    from fewlabels.data import hide_labels

    x, y, x_test, y_test = data
    s = SETTINGS[name]
    labeled = np.flatnonzero(hide_labels(y, s["labels"], seed)[0] >= 0)
    flat = [np.asarray(a, np.float32).reshape(len(a), -1) for a in (x, x_test)]
    return {"dataset": name, "seed": seed, "steps": -1, "labels_per_class": s["labels"],
            "n_labeled": len(labeled), "method": "input", "wall_s": 0.0, "final_loss": None,
            **probes(flat[0], y, flat[1], y_test, labeled)}


def run_one(name: str, steps: int, seed: int, data) -> dict:
    import keras

    from fewlabels.data import hide_labels
    from fewlabels.estimators.pretrain import pretrain
    from fewlabels.models.chooser import build_network, choose_network

    x, y, x_test, y_test = data
    s, spec = SETTINGS[name], spec_for(name)
    start = time.perf_counter()
    if steps:
        done = pretrain(x, network=spec, steps=steps, batch_size=s["batch"], seed=seed,
                        augment_params={"horizontal_flip": s.get("flip", True)})
        network, losses = done.network, done.losses
    else:
        keras.utils.set_random_seed(seed)
        kind = choose_network(spec.architecture, spec.backbone, np.ndim(x))
        network, losses = build_network(kind, np.asarray(x, np.float32), 2, spec), []
    wall = time.perf_counter() - start
    labeled = np.flatnonzero(hide_labels(y, s["labels"], seed)[0] >= 0)
    scores = probes(body_features(network, x), y, body_features(network, x_test), y_test,
                    labeled)
    return {"dataset": name, "seed": seed, "steps": steps, "labels_per_class": s["labels"],
            "n_labeled": len(labeled), "method": "simclr" if np.ndim(x) == 4 else "scarf",
            "wall_s": round(wall, 1), "final_loss": round(losses[-1], 4) if losses else None,
            **scores}


def fit_rows(name: str, methods: list[str], steps: int, fit_steps: int, seed: int, data,
             work: Path, equal_time: bool = False) -> list[dict]:
    """Each method from a body pretrained for `steps` steps, then from random weights (for
    as many more steps as the pretraining took, with `equal_time`)."""
    from fewlabels import Budget, ConsistencyTraining
    from fewlabels.data import hide_labels
    from fewlabels.estimators.pretrain import pretrain
    from fewlabels.models.body import save_body_weights

    x, y, x_test, y_test = data
    s, spec = SETTINGS[name], spec_for(name)
    start = time.perf_counter()
    done = pretrain(x, network=spec, steps=steps, batch_size=s["batch"], seed=seed,
                    augment_params={"horizontal_flip": s.get("flip", True)})
    body = save_body_weights(done.network, work / f"{name}-{seed}.weights.h5")
    pretrain_s = time.perf_counter() - start
    y_partial, _ = hide_labels(y, s["labels"], seed)
    rows = []
    for method in methods:
        per_step = None
        for weights in (str(body), None):
            n = fit_steps if weights or not equal_time else \
                fit_steps + round(pretrain_s / per_step)
            start = time.perf_counter()
            model = ConsistencyTraining(method=method, budget=Budget(n), seed=seed,
                                        model=spec.replace(backbone_weights=weights))
            model.fit(x, y_partial)
            wall = time.perf_counter() - start + (pretrain_s if weights else 0.0)
            per_step = (wall - pretrain_s) / fit_steps if weights else per_step
            rows.append({"dataset": name, "seed": seed, "method": method,
                         "pretrain_steps": steps if weights else 0, "fit_steps": n,
                         "labels_per_class": s["labels"],
                         "n_labeled": int(np.sum(y_partial >= 0)),
                         "test_accuracy": round(float(np.mean(model.predict(x_test) == y_test)),
                                                4),
                         "wall_s": round(wall, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = base_parser("pretrain", __doc__.splitlines()[0], default_seeds="1")
    parser.add_argument("--data", choices=sorted(SETTINGS), default="fashion_mnist")
    parser.add_argument("--steps", default="0,250,500,1000",
                        help="pretraining budgets, comma-separated (0: random weights)")
    parser.add_argument("--fit", default=None, help="methods to train from random weights "
                        "and from the pretrained body, comma-separated")
    parser.add_argument("--fit-steps", type=int, default=300)
    parser.add_argument("--equal-time", action="store_true", help="train from random weights "
                        "for as many more steps as the pretraining's time buys")
    args = parser.parse_args()
    kind = (f"{args.data}_fit{'_equal_time' if args.equal_time else ''}" if args.fit
            else args.data)
    if args.table.endswith("/pretrain.md"):
        args.table = args.table.replace("/pretrain.md", f"/pretrain_{kind}.md")
        args.out = args.out.replace("/pretrain.json", f"/pretrain_{kind}.json")
    data = load(args.data)
    if args.fit:
        import tempfile

        with tempfile.TemporaryDirectory() as work:
            runs = [row for seed in parse_seeds(args.seeds)
                    for row in fit_rows(args.data, args.fit.split(","), int(args.steps),
                                        args.fit_steps, seed, data, Path(work),
                                        args.equal_time)]
        write_outputs(args, runs, fit_table)
        return
    runs = []
    for seed in parse_seeds(args.seeds):
        runs.append(raw_row(args.data, seed, data))
        print(json.dumps(runs[-1]), flush=True)
        for steps in (int(v) for v in args.steps.split(",")):
            runs.append(run_one(args.data, steps, seed, data))
            print(json.dumps(runs[-1]), flush=True)
    write_outputs(args, runs, table)


def fit_table(runs, info) -> str:
    lines = ["| method | from | steps | test accuracy | per seed | wall s (pretraining "
             "included) |", "|---|---|---|---|---|---|"]
    for method in dict.fromkeys(r["method"] for r in runs):
        for pretrained in (False, True):
            cell = [r for r in runs if r["method"] == method
                    and bool(r["pretrain_steps"]) == pretrained]
            start = (f"a body pretrained {cell[0]['pretrain_steps']} steps" if pretrained
                     else "random weights")
            lines.append(f"| {method} | {start} | {np.mean([r['fit_steps'] for r in cell]):.0f} | "
                         f"{mean_std([r['test_accuracy'] for r in cell])}"
                         f" | {', '.join(str(r['test_accuracy']) for r in cell)} | "
                         f"{np.mean([r['wall_s'] for r in cell]):.0f} |")
    r = runs[0]
    lines += ["", f"{r['dataset']}: {r['n_labeled']} labels ({r['labels_per_class']} per "
              "class), each method with `ConsistencyTraining`'s recipe for the steps shown, "
              f"{len({x['seed'] for x in runs})} seeds."]
    return "\n".join(lines + footer(info))


def table(runs, info) -> str:
    name, method = runs[0]["dataset"], runs[-1]["method"]
    label = {-1: "the input itself", 0: "0 (random weights)"}
    lines = [f"| pretraining steps ({method}) | kNN (k=20) | linear probe | "
             "pretraining wall s | final loss |", "|---|---|---|---|---|"]
    for steps in sorted({r["steps"] for r in runs}):
        cell = [r for r in runs if r["steps"] == steps]
        loss = [r["final_loss"] for r in cell if r["final_loss"] is not None]
        lines.append(f"| {label.get(steps, steps)} | {mean_std([r['knn'] for r in cell])} | "
                     f"{mean_std([r['linear_probe'] for r in cell])} | "
                     f"{np.mean([r['wall_s'] for r in cell]):.0f} | "
                     f"{np.mean(loss):.3f} |" if loss else
                     f"| {label.get(steps, steps)} | {mean_std([r['knn'] for r in cell])} | "
                     f"{mean_std([r['linear_probe'] for r in cell])} | - | - |")
    seeds = len({r["seed"] for r in runs})
    lines += ["", f"{name}: test accuracy of the body's features with {runs[0]['n_labeled']} "
              f"labels ({runs[0]['labels_per_class']} per class), {seeds} seed(s); the body is "
              "not fine-tuned."]
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
