"""The evaluation EMA's early lag, with and without its warm-up, on Fashion-MNIST 400 labels.

The model fewlabels scores and saves is an exponential moving average (EMA) of the trained
network's weights. A plain EMA with momentum m keeps a share m**n of the random initial
weights after n steps, so the averaged network can sit at chance long after the one it
averages has learned; the warm-up (`ema_warmup`: momentum `min(m, n / (n + warmup))`) makes
the average follow the network from the first steps. This script trains the supervised
baseline of `benchmarks/fmnist_400.py` (the same CNN, batch, SGD and data: 40 labels per
class, seeded) for `--steps` steps, four times with the same seed, and scores every 100 steps
on the same 2,000 test images as that benchmark's curve:

- the network itself (no average, `ema_momentum=0`);
- the average with momentum `--ema-momentum` and no warm-up (`ema_warmup=0`, fewlabels up to
  this script's commit);
- the same with the default warm-up (9, TensorFlow's `ExponentialMovingAverage` rule);
- the same with Mean Teacher's warm-up (1: the plain mean of all weights so far at first).

The default momentum, 0.998, is what `ConsistencyTraining` picks for a 5,000-step run, the
length of the 30-minute runs of `fmnist_400.py`. The learning rate decays over `--steps`.

Run: `python benchmarks/ema_warmup.py --seeds 1` (about 8 minutes on 2 cores).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    base_parser,
    first_reaching,
    footer,
    git_commit,
    parse_seeds,
    write_outputs,
)

from fewlabels.data import hide_labels
from fewlabels.data.images import load_image_dataset
from fewlabels.estimators.consistency import ConsistencyTraining

LABELS_PER_CLASS = 40
CURVE_SUBSET = 2000
STEPS_PER_EPOCH = 100
SHOWN_STEPS = (100, 300, 500, 1000, 2000)


def variants(momentum: float) -> dict[str, dict]:
    """The four scored models: {label: ConsistencyTraining EMA settings}."""
    return {
        "network (no average)": {"ema_momentum": 0.0},
        f"EMA {momentum}, no warm-up": {"ema_momentum": momentum, "ema_warmup": 0.0},
        f"EMA {momentum}, warm-up 9 (default)": {"ema_momentum": momentum, "ema_warmup": 9.0},
        f"EMA {momentum}, warm-up 1 (Mean Teacher's)": {"ema_momentum": momentum,
                                                         "ema_warmup": 1.0},
    }


def first_step_at(curve: list[list[float]], level: float) -> int | None:
    """The first scored step whose accuracy reaches `level` (None: never)."""
    step = first_reaching(curve, level)
    return None if step is None else int(step)


def table(runs: list[dict], info: dict) -> str:
    steps = info["settings"]["steps"]
    shown = [s for s in SHOWN_STEPS if s < steps] + [steps]
    lines = [
        f"Supervised baseline of `fmnist_400.py` (400 labels, {steps} steps): accuracy of the "
        "scored model on the curve's 2,000 test images after n steps, the first step at which "
        "it reaches 0.70, and the final accuracy on all 10,000 test images.",
        "",
        "| Scored model | seed | " + " | ".join(f"step {s}" for s in shown)
        + " | reaches 0.70 at | final test |",
        "|---|---|" + "---|" * len(shown) + "---|---|",
    ]
    for run in runs:
        at = dict((int(s), a) for s, a in run["curve_steps"])
        reached = run["steps_to_0.70"]
        lines.append(f"| {run['method']} | {run['seed']} | "
                     + " | ".join(f"{at[s]:.3f}" for s in shown)
                     + f" | {reached if reached is not None else 'never'} | "
                     f"{run['test_accuracy']:.3f} |")
    return "\n".join(lines + footer(info))


def main() -> None:
    parser = base_parser("ema_warmup", __doc__.splitlines()[0], default_seeds="1")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--ema-momentum", type=float, default=0.998)
    args = parser.parse_args()
    if args.steps < STEPS_PER_EPOCH or args.steps % STEPS_PER_EPOCH:
        parser.error(f"--steps must be a positive multiple of {STEPS_PER_EPOCH}; "
                     f"got {args.steps}")
    if not 0 < args.ema_momentum < 1:
        parser.error(f"--ema-momentum must be in (0, 1); got {args.ema_momentum}")
    commit = git_commit()
    data = load_image_dataset("fashion_mnist")
    runs = []
    for seed in parse_seeds(args.seeds):
        y_partial, _ = hide_labels(data.y, LABELS_PER_CLASS, seed)
        subset = np.random.default_rng(1000 + seed).choice(len(data.y_test), CURVE_SUBSET,
                                                           replace=False)
        for label, ema in variants(args.ema_momentum).items():
            model = ConsistencyTraining.for_method(  # flat options, as the command line's
                "supervised", model="cnn", cnn_widths=(16, 32, 64), batch_size=32,
                steps=args.steps, steps_per_epoch=STEPS_PER_EPOCH, optimizer="sgd",
                learning_rate=0.03, weight_decay=5e-4, jit_compile=True, deterministic=False,
                seed=seed, **ema)
            start = time.perf_counter()
            model.fit(data.x, y_partial,
                      validation_data=(data.x_test[subset], data.y_test[subset]))
            wall = time.perf_counter() - start
            scores = model.history_["val_accuracy"]
            steps = [STEPS_PER_EPOCH * (i + 1) for i in range(len(scores))]
            curve_steps = [[s, round(a, 4)] for s, a in zip(steps, scores, strict=True)]
            accuracy = model.evaluate(data.x_test, data.y_test)["accuracy"]
            runs.append({
                "dataset": "fashion_mnist", "n_labeled": int(np.sum(y_partial >= 0)),
                "method": label, "seed": seed, "test_accuracy": round(accuracy, 4),
                "wall_s": round(wall, 1), "steps": args.steps, **ema,
                "curve": [[t, round(a, 4)] for t, a in zip(model.epoch_wall_s_, scores,
                                                           strict=True)],
                "curve_steps": curve_steps, "steps_to_0.70": first_step_at(curve_steps, 0.70),
                "commit": commit,
            })
            print(f"{label}, seed {seed}: " + ", ".join(
                f"{a:.3f}@{s}" for s, a in curve_steps if s in SHOWN_STEPS)
                + f"; final {accuracy:.4f} ({wall:.0f} s)", flush=True)
    write_outputs(args, runs, table, settings={"steps": args.steps,
                                               "ema_momentum": args.ema_momentum,
                                               "labels_per_class": LABELS_PER_CLASS})


if __name__ == "__main__":
    main()
