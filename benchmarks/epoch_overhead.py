"""Time per epoch: fewlabels' training stage vs plain `model.fit` on NumPy arrays.

Both train the same MLP (64-64) on the same 900 x 64 table (batch 32, 10 validation rows),
with Keras early stopping on the validation loss. They are measured in one run, alternating,
`--repeats` times each, so machine noise hits both alike.

Run: `python benchmarks/epoch_overhead.py --seeds 1`. It writes
`benchmarks/results/epoch_overhead.json` and `docs/benchmarks/epoch_overhead.md`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, parse_seeds, write_outputs

from fewlabels import training
from fewlabels.models import build_mlp

N, D, C, BATCH, EPOCHS = 900, 64, 10, 32, 20


def plain_fit(model, x, t, xv, tv) -> None:
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.CategoricalCrossentropy(),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    stopper = keras.callbacks.EarlyStopping(patience=EPOCHS, restore_best_weights=True)
    model.fit(x, t, validation_data=(xv, tv), batch_size=BATCH, epochs=EPOCHS, verbose=0,
              callbacks=[stopper])


def fewlabels_stage(model, x, t, xv, tv) -> None:
    training.train_stage(model, x, t, validation=(xv, tv), learning_rate=1e-3,
                         batch_size=BATCH, epochs=EPOCHS, patience=EPOCHS)


def main() -> None:
    parser = base_parser("epoch_overhead", __doc__.splitlines()[0], default_seeds="1")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for seed in parse_seeds(args.seeds):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(N, D)).astype(np.float32)
        t = np.eye(C, dtype=np.float32)[rng.integers(0, C, N)]
        xv, tv = x[:10], t[:10]
        for repeat in range(args.repeats + 1):  # the first round warms up and is not kept
            for method, fn in (("keras fit on arrays", plain_fit),
                               ("fewlabels train_stage", fewlabels_stage)):
                model = build_mlp(D, C, adapt_data=x)
                start = time.perf_counter()
                fn(model, x, t, xv, tv)
                wall = time.perf_counter() - start
                if repeat:
                    run = {"dataset": f"random {N}x{D}", "n_labeled": N, "method": method,
                           "seed": seed, "test_accuracy": None, "wall_s": round(wall, 3),
                           "epochs": EPOCHS, "ms_per_epoch": round(1000 * wall / EPOCHS, 1)}
                    runs.append(run)
                    print(json.dumps(run), flush=True)
    write_outputs(args, runs, table)


def table(runs, info) -> str:
    lines = ["| input path | ms per epoch, mean ± std | runs |", "|---|---|---|"]
    means = {}
    for method in dict.fromkeys(r["method"] for r in runs):
        values = np.array([r["ms_per_epoch"] for r in runs if r["method"] == method])
        means[method] = values.mean()
        lines.append(f"| {method} | {values.mean():.1f} ± {values.std(ddof=1):.1f} | "
                     f"{len(values)} |")
    ratio = means["keras fit on arrays"] / means["fewlabels train_stage"]
    lines += ["", f"Ratio (arrays / fewlabels), measured in one run: {ratio:.1f}x."]
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
