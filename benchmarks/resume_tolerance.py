"""How far a resumed run is from an uninterrupted one when op determinism is off.

With `deterministic=False` (XLA allowed) TensorFlow promises no determinism, so the stated
tolerance of a resume (docs/reliability.md) is "no more than two uninterrupted runs differ".
This script measures both on FixMatch over the digits as 8x8 images (1,400 training digits,
100 labeled, 200 steps, XLA on): two uninterrupted runs, and one stopped at step 77 (as
SIGTERM stops it, mid-epoch) and resumed from its checkpoint. It reports the largest weight
difference and the test accuracy on the other 397 digits.

Run: `python benchmarks/resume_tolerance.py --seeds 1`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, parse_seeds, write_outputs

from fewlabels.data.builtin import load_builtin
from fewlabels.data.images import digits_as_images
from fewlabels.errors import TrainingInterruptedError
from fewlabels.estimators.consistency import ConsistencyTraining
from fewlabels.training.checkpoint import CheckpointPolicy
from fewlabels.training.recorder import TrainingRecorder

STOP_AT = 77


def fit(x, y, seed: int, folder: Path, *, stop: bool = False, resume: bool = False):
    params = dict(method="fixmatch", steps=200, steps_per_epoch=50, batch_size=16, uratio=4,
                  seed=seed, deterministic=False, jit_compile=True)
    original = TrainingRecorder.on_train_batch_end

    def stopping(self, batch, logs=None):
        if self.epoch_start + batch + 1 == STOP_AT:
            self.request_stop("SIGTERM")
        return original(self, batch, logs)

    if stop:
        TrainingRecorder.on_train_batch_end = stopping
    try:
        return ConsistencyTraining.for_method(**params).fit(  # flat options
            x, y, checkpoint=CheckpointPolicy(folder, resume=resume))
    except TrainingInterruptedError:
        return None
    finally:
        TrainingRecorder.on_train_batch_end = original


def main() -> None:
    args = base_parser("resume_tolerance", __doc__.splitlines()[0], default_seeds="1") \
        .parse_args()
    table = load_builtin("digits")
    x, y = table.x, table.y
    images = digits_as_images(x)
    train = np.arange(len(y)) < 1400
    y_partial = y[train].copy()
    y_partial[100:] = -1
    test = ~train
    runs = []
    for seed in parse_seeds(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            a = fit(images[train], y_partial, seed, Path(tmp) / "a")
            b = fit(images[train], y_partial, seed, Path(tmp) / "b")
            fit(images[train], y_partial, seed, Path(tmp) / "c", stop=True)
            c = fit(images[train], y_partial, seed, Path(tmp) / "c", resume=True)
        for name, other in (("second uninterrupted run", b), ("resumed run", c)):
            diff = max(float(np.max(np.abs(u - v)))
                       for u, v in zip(a.model_.get_weights(), other.model_.get_weights(),
                                       strict=True))
            runs.append({"dataset": "digits 8x8", "n_labeled": 100, "method": name,
                         "seed": seed, "wall_s": other.wall_s_,
                         "test_accuracy": float(np.mean(other.predict(images[test])
                                                        == y[test])),
                         "reference_accuracy": float(np.mean(a.predict(images[test])
                                                             == y[test])),
                         "max_weight_difference": diff})
            print(runs[-1], flush=True)
    write_outputs(args, runs, table)


def table(runs: list[dict], info: dict) -> str:
    lines = ["Against an uninterrupted run (FixMatch, digits 8x8, 200 steps, XLA on, op "
             f"determinism off; the resumed run was stopped at step {STOP_AT}).", "",
             "| compared run | seed | max weight difference | its test accuracy | reference |",
             "|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['method']} | {r['seed']} | {r['max_weight_difference']:.3g} | "
                     f"{r['test_accuracy']:.4f} | {r['reference_accuracy']:.4f} |")
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
