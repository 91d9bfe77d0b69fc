"""Why transfer does or does not help: how well do the pretrained features separate the target?

`benchmarks/transfer.py` pretrains backbones on Fashion-MNIST classes 0-4 and transfers them
to classes 5-9. This probe asks the feature question directly, without training a head: with
the same 10 labels per class (`hide_labels(y, 10, seed)`), classify the 5,000 target test
images by their nearest class centroid (cosine) in

- raw pixels;
- the features (global-average-pooled) of the backbone with random weights;
- the features of the pretrained backbone.

If pretrained features are no better than random ones, the source task taught nothing the
target needs, and no head or fine-tuning schedule can make transfer beat training from
scratch. Run after `transfer.py --work DIR` (it reads the saved backbone weights from DIR):

    python benchmarks/transfer_probe.py --work /tmp/tw --seeds 3
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, mean_std, parse_seeds, write_outputs
from transfer import BACKBONES, SOURCE, TARGET, TARGET_LABELS_PER_CLASS

from fewlabels.data import hide_labels
from fewlabels.data.images import load_image_dataset


def features(backbone: str, weights, x: np.ndarray) -> np.ndarray:
    import keras

    from fewlabels import training
    from fewlabels.models.transfer import build_transfer_model

    training.seed_everything(0)
    model = build_transfer_model(backbone, x.shape[1:], 2, weights=weights)
    pool = model.get_layer("pool").output
    extractor = keras.Model(model.inputs, pool)
    return extractor.predict(x.astype("float32"), batch_size=256, verbose=0)


def centroid_accuracy(f_train, y_train, f_test, y_test) -> float:
    def unit(a):
        a = a.reshape(len(a), -1).astype(np.float64)
        a = a - f_mean
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    f_mean = f_train.reshape(len(f_train), -1).mean(axis=0)
    train, test = unit(f_train), unit(f_test)
    centroids = np.stack([train[y_train == c].mean(axis=0) for c in np.unique(y_train)])
    return float(np.mean((test @ centroids.T).argmax(axis=1) == y_test))


def main() -> None:
    parser = base_parser("transfer_probe", __doc__.splitlines()[0], default_seeds="3")
    parser.add_argument("--work", required=True, help="the --work folder of transfer.py")
    args = parser.parse_args()
    ds = load_image_dataset("fashion_mnist")
    tgt, tgt_test = np.isin(ds.y, TARGET), np.isin(ds.y_test, TARGET)
    x, y = ds.x[tgt], ds.y[tgt] - len(SOURCE)
    x_test, y_test = ds.x_test[tgt_test], ds.y_test[tgt_test] - len(SOURCE)
    runs = []
    spaces = {"raw pixels": None}
    for backbone in BACKBONES:
        path = Path(args.work) / f"{backbone}.weights.h5"
        if not path.is_file():
            print(f"skipping {backbone}: no {path}", flush=True)
            continue
        spaces[f"{backbone}, random weights"] = (backbone, None)
        spaces[f"{backbone}, pretrained on classes 0-4"] = (backbone, str(path))
    cache = {}
    for seed in parse_seeds(args.seeds):
        y_partial, _ = hide_labels(y, TARGET_LABELS_PER_CLASS, seed)
        keep = y_partial >= 0
        for name, spec in spaces.items():
            if spec is None:
                f_all, f_test = x.astype(np.float32), x_test.astype(np.float32)
            else:
                if name not in cache:
                    cache[name] = (features(*spec, x), features(*spec, x_test))
                f_all, f_test = cache[name]
            accuracy = centroid_accuracy(f_all[keep], y_partial[keep], f_test, y_test)
            runs.append({"dataset": "fashion_mnist classes 5-9", "n_labeled": int(keep.sum()),
                         "method": f"nearest centroid on {name}", "features": name,
                         "seed": seed, "test_accuracy": accuracy, "wall_s": 0.0})
            print(runs[-1], flush=True)
    write_outputs(args, runs, table)


def table(runs: list[dict], info: dict) -> str:
    lines = ["# Transfer probe: nearest-centroid accuracy of the features", "",
             "Fashion-MNIST classes 5-9, 10 labels per class, 5,000 test images; mean ± std "
             "over seeds. No training: each test image takes the class of the nearest "
             "class centroid (cosine, centered features).", "",
             "| features | accuracy |", "|---|---|"]
    for name in dict.fromkeys(r["features"] for r in runs):
        lines.append(f"| {name} | "
                     f"{mean_std([r['test_accuracy'] for r in runs if r['features'] == name])} |")
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
