"""Transfer-learning and augmentation benchmark on Fashion-MNIST, offline.

No ImageNet weights can be downloaded here, so the pretrained backbones are made in the
script, on a real source task:

1. **Pretrain** (once, seed 0) on Fashion-MNIST classes 0-4 (T-shirt, Trouser, Pullover,
   Dress, Coat) with all 30,000 of their training labels: fewlabels' compact CNN and one
   `keras.applications` backbone (MobileNetV2, `weights=None`, 28x28 gray images resized to
   32x32 RGB inside the model). Each backbone is saved with `save_backbone_weights`.
2. **Transfer** to classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) with 10 labels per
   class (`hide_labels(y, 10, seed)`), scored on their 5,000 test images. For each backbone:
   - `from scratch`: the same architecture from random weights, every layer trained
     (BatchNorm in training mode);
   - `frozen transfer`: the pretrained backbone frozen, a new head trained (phase 1 only);
   - `transfer + fine-tune`: phase 1, then the top 20 backbone layers unfrozen at a 10x
     lower learning rate (phase 2), BatchNormalization kept in inference mode;
   each with `none` and `classic` augmentation.
3. **Augmentation** on Fashion-MNIST with 400 labels (40 per class, the rest unused), the
   compact CNN trained supervised from scratch with `none`, `classic` and `weak`.

Every model is trained through `fewlabels.SelfTraining(rounds=0)`: the supervised path of the
product, with its early stopping on a labeled validation split (20% of the labels).

Run: `python benchmarks/transfer.py --seeds 3`. It writes `benchmarks/results/transfer.json`
and `docs/benchmarks/transfer.md`. `--parts` and `--backbones` run a subset (with `--out` and
`--table` to keep the files apart).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, mean_std, parse_seeds, write_outputs

from fewlabels.data import hide_labels
from fewlabels.data.images import load_image_dataset
from fewlabels.estimators.self_training import SelfTraining

SOURCE, TARGET = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
BACKBONES = ("cnn", "MobileNetV2")
PRETRAIN_EPOCHS = 4
TARGET_LABELS_PER_CLASS = 10
AUG_LABELS_PER_CLASS = 40


def pretrain(name: str, x, y, x_test, y_test, folder: Path) -> tuple[Path, dict]:
    """Train `name` with a trainable backbone on the source task; save the backbone."""
    import keras

    from fewlabels import training
    from fewlabels.models.transfer import build_transfer_model, save_backbone_weights

    training.seed_everything(0)
    model = build_transfer_model(name, x.shape[1:], len(SOURCE), weights=None, frozen=False,
                                 dropout=0.25)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x.astype("float32"), y, batch_size=128, epochs=PRETRAIN_EPOCHS, verbose=2,
              shuffle=True)
    wall = time.perf_counter() - start
    accuracy = float(model.evaluate(x_test.astype("float32"), y_test, verbose=0)[1])
    path = save_backbone_weights(model, folder / f"{name}.weights.h5")
    print(f"pretrained {name}: source test accuracy {accuracy:.4f} in {wall:.0f} s", flush=True)
    return path, {"dataset": "fashion_mnist classes 0-4", "n_labeled": len(y),
                  "method": f"pretrain {name}", "seed": 0, "test_accuracy": accuracy,
                  "wall_s": round(wall, 2), "epochs": PRETRAIN_EPOCHS,
                  "images_per_s": round(PRETRAIN_EPOCHS * len(y) / wall, 1)}


def run_one(params: dict, x, y_partial, x_test, y_test, seed: int) -> dict:
    model = SelfTraining(rounds=0, finetune=False, seed=seed, **params).fit(x, y_partial)
    wall = sum(s["wall_s"] for s in model.stages_)
    seen = sum(s["epochs"] for s in model.stages_) * model.n_train_labeled_
    metrics = model.evaluate(x_test, y_test)
    return {"test_accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "wall_s": round(wall, 2), "epochs": model.epochs_run_,
            "images_per_s": round(seen / wall, 1) if wall else None}


def scratch_run(backbone: str, augment: str, x, y_partial, x_test, y_test, seed: int) -> dict:
    """The backbone's network from random weights, every layer trained in training mode.

    It is what `SelfTraining(rounds=0)` does (the same validation split, early stopping and
    training stage), but with the backbone built by `build_transfer_model(frozen=False)`: a
    `SelfTraining` transfer model keeps BatchNorm in inference mode, which suits pretrained
    statistics and not random ones.
    """
    from fewlabels import training
    from fewlabels.data import stratified_split
    from fewlabels.metrics import classification_metrics
    from fewlabels.models.transfer import build_transfer_model
    from fewlabels.views.augment import build_policy

    defaults = SelfTraining()
    kept, held = stratified_split(y_partial, defaults.validation_fraction, seed)
    training.seed_everything(seed)
    onehot = np.eye(len(TARGET), dtype="float32")
    model = build_transfer_model(backbone, x.shape[1:], len(TARGET), weights=None,
                                 frozen=False, dropout=defaults.dropout)
    x = x.astype("float32")
    stage = training.train_stage(
        model, x[kept], onehot[y_partial[kept]], validation=(x[held], onehot[y_partial[held]]),
        learning_rate=defaults.learning_rate, batch_size=defaults.batch_size,
        epochs=defaults.epochs, patience=defaults.patience, min_steps=defaults.min_steps,
        augment=None if augment == "none" else build_policy(augment, seed=seed), seed=seed)
    proba = training.predict_proba(model, x_test.astype("float32"))
    metrics = classification_metrics(y_test, proba, list(range(len(TARGET))))
    return {"test_accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "wall_s": stage["wall_s"], "epochs": stage["epochs"],
            "images_per_s": round(stage["epochs"] * len(kept) / stage["wall_s"], 1)}


def transfer_methods(backbone: str, weights: Path) -> dict[str, dict | None]:
    """The schedules; None: `scratch_run` (a keras.applications network from scratch)."""
    return {
        "from scratch": {"model": "cnn"} if backbone == "cnn" else None,
        "frozen transfer": {"backbone": backbone, "weights": str(weights), "unfreeze": 0},
        "transfer + fine-tune": {"backbone": backbone, "weights": str(weights), "unfreeze": 20},
    }


def main() -> None:
    parser = base_parser("transfer", __doc__.splitlines()[0], default_seeds="3")
    parser.add_argument("--work", default=None,
                        help="folder for the pretrained weights (default: a temporary one)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES),
                        help=f"backbones of the transfer part (default: {' '.join(BACKBONES)})")
    parser.add_argument("--parts", nargs="+", default=["augmentation", "transfer"],
                        choices=["augmentation", "transfer"], help="which parts to run")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    ds = load_image_dataset("fashion_mnist")
    runs: list[dict] = []
    work = Path(args.work or tempfile.mkdtemp(prefix="fewlabels-transfer-"))
    work.mkdir(parents=True, exist_ok=True)

    src, src_test = np.isin(ds.y, SOURCE), np.isin(ds.y_test, SOURCE)
    tgt, tgt_test = np.isin(ds.y, TARGET), np.isin(ds.y_test, TARGET)
    x_tgt, y_tgt = ds.x[tgt], ds.y[tgt] - len(SOURCE)
    x_tgt_test, y_tgt_test = ds.x_test[tgt_test], ds.y_test[tgt_test] - len(SOURCE)

    # Part 3 first: it needs no pretraining.
    for seed in seeds if "augmentation" in args.parts else []:
        y_partial, _ = hide_labels(ds.y, AUG_LABELS_PER_CLASS, seed)
        keep = y_partial >= 0
        for augment in ("none", "classic", "weak"):
            record = run_one({"model": "cnn", "augment": augment}, ds.x[keep],
                             y_partial[keep], ds.x_test, ds.y_test, seed)
            runs.append({"dataset": "fashion_mnist", "n_labeled": int(keep.sum()),
                         "method": f"cnn, {augment} augmentation", "part": "augmentation",
                         "augment": augment, "seed": seed, **record})
            print(runs[-1], flush=True)

    for backbone in args.backbones if "transfer" in args.parts else []:
        weights, record = pretrain(backbone, ds.x[src], ds.y[src],
                                   ds.x_test[src_test], ds.y_test[src_test], work)
        runs.append({**record, "part": "pretrain", "backbone": backbone})
        for seed in seeds:
            y_partial, _ = hide_labels(y_tgt, TARGET_LABELS_PER_CLASS, seed)
            keep = y_partial >= 0
            for name, params in transfer_methods(backbone, weights).items():
                for augment in ("none", "classic"):
                    if params is None:
                        record = scratch_run(backbone, augment, x_tgt[keep], y_partial[keep],
                                             x_tgt_test, y_tgt_test, seed)
                    else:
                        record = run_one({**params, "augment": augment}, x_tgt[keep],
                                         y_partial[keep], x_tgt_test, y_tgt_test, seed)
                    runs.append({"dataset": "fashion_mnist classes 5-9",
                                 "n_labeled": int(keep.sum()), "part": "transfer",
                                 "method": f"{backbone}: {name}, {augment}",
                                 "backbone": backbone, "schedule": name, "augment": augment,
                                 "seed": seed, **record})
                    print(runs[-1], flush=True)
    write_outputs(args, runs, table)


def _stats(rows: list[dict]) -> str:
    """`accuracy | time s | images/s |` cells: mean ± std, mean ± std, mean."""
    return (f"{mean_std([r['test_accuracy'] for r in rows])} | "
            f"{mean_std([r['wall_s'] for r in rows])} | "
            f"{np.mean([r['images_per_s'] for r in rows]):.0f} |")


def table(runs: list[dict], info: dict) -> str:
    lines = ["# Transfer learning and augmentation (Fashion-MNIST)", "",
             "Test accuracy, mean ± std over seeds; training wall time in seconds, mean ± std; "
             "images/s is training throughput (images seen per second of training).", ""]
    pre = [r for r in runs if r.get("part") == "pretrain"]
    if pre:
        lines += ["## Pretraining on classes 0-4 (30,000 labels, seed 0)", "",
                  "| backbone | source test accuracy | epochs | time s | images/s |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['backbone']} | {r['test_accuracy']:.3f} | {r['epochs']} | "
                  f"{r['wall_s']:.0f} | {r['images_per_s']:.0f} |" for r in pre]
        lines.append("")
    transfer = [r for r in runs if r.get("part") == "transfer"]
    if transfer:
        lines += ["## Transfer to classes 5-9 with 10 labels per class (5,000 test images)", "",
                  "| backbone | schedule | augmentation | accuracy | time s | images/s |",
                  "|---|---|---|---|---|---|"]
        for method in dict.fromkeys(r["method"] for r in transfer):
            rows = [r for r in transfer if r["method"] == method]
            lines.append(f"| {rows[0]['backbone']} | {rows[0]['schedule']} | "
                         f"{rows[0]['augment']} | {_stats(rows)}")
        lines.append("")
    aug = [r for r in runs if r.get("part") == "augmentation"]
    if aug:
        lines += ["## Augmentation: 400 labels (40 per class), compact CNN, supervised", "",
                  "| augmentation | accuracy (10,000 test images) | time s | images/s |",
                  "|---|---|---|---|"]
        for augment in dict.fromkeys(r["augment"] for r in aug):
            lines.append(f"| {augment} | {_stats([r for r in aug if r['augment'] == augment])}")
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
