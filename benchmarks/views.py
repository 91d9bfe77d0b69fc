"""Do the image views keep their label? Supervised training on every label, view by view.

A view that changes what an image shows teaches its consistency method the wrong thing.
This measures it on Fashion-MNIST with all 60,000 labels, so that pseudo-labels play no part:
for each policy (`none`, `weak`, `strong`, `classic`), the benchmark's CNN (16-32-64) trains
supervised for `--steps` steps on views of the labeled images (the policy as the weak view of
`ConsistencyTraining(method="supervised")`), with the same batch, SGD and schedule as
`benchmarks/fmnist_400.py`, and is scored on the clean test images (`test_accuracy`). Then
the `none` model, which never saw a view, scores views of the test images
(`view_accuracy`): how often a network trained on clean images still recognizes the view.

A policy whose `test_accuracy` falls short of `none`'s costs more than it teaches at this
step count; a low `view_accuracy` says the view moves images far from the data.

Run: `python benchmarks/views.py --seeds 1` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, git_commit, parse_seeds, write_outputs

from fewlabels.data.images import load_image_dataset
from fewlabels.estimators.consistency import ConsistencyTraining
from fewlabels.views.augment import build_policy, plain_background

POLICIES = ("none", "weak", "strong", "classic")


def train(policy: str, data, steps: int, seed: int) -> tuple[ConsistencyTraining, float]:
    model = ConsistencyTraining(method="supervised", weak=policy, model="cnn",
                                cnn_widths=(16, 32, 64), batch_size=64, steps=steps,
                                steps_per_epoch=steps, learning_rate=0.03, seed=seed,
                                jit_compile=True, deterministic=False)
    start = time.perf_counter()
    model.fit(data.x, data.y)
    return model, time.perf_counter() - start


def view_accuracy(model, policy: str, data, seed: int) -> float:
    """The model's accuracy on one seeded draw of `policy`'s view of every test image."""
    layer = build_policy(policy, seed=seed, background=plain_background(data.x))
    views = np.concatenate([np.asarray(layer(data.x_test[i:i + 1000].astype(np.float32),
                                             training=True))
                            for i in range(0, len(data.x_test), 1000)])
    return float(np.mean(model.predict(views) == data.y_test))


def table(runs: list[dict], info: dict) -> str:
    lines = ["Fashion-MNIST, all 60,000 labels: the CNN trained supervised on each policy's "
             "views, scored on the clean test images; and the `none` model (trained on clean "
             "images) scored on each policy's views of the test images.", "",
             "| policy | seeds | steps | test accuracy (trained on the views) | accuracy of "
             "the clean model on the views |", "|---|---|---|---|---|"]
    for policy in POLICIES:
        rs = [r for r in runs if r["method"] == policy]
        if rs:
            lines.append(
                f"| {policy} | {len(rs)} | {rs[0]['steps']} | "
                f"{np.mean([r['test_accuracy'] for r in rs]):.4f} | "
                f"{np.mean([r['view_accuracy'] for r in rs]):.4f} |")
    return "\n".join(lines + footer(info))


def main() -> None:
    parser = base_parser("views", __doc__, default_seeds="1")
    parser.add_argument("--steps", type=int, default=3000,
                        help="training steps per policy (default: 3000, batch 64)")
    args = parser.parse_args()
    data = load_image_dataset("fashion_mnist")
    commit = git_commit()
    runs = []
    for seed in parse_seeds(args.seeds):
        trained = {p: train(p, data, args.steps, seed) for p in POLICIES}
        clean = trained["none"][0]
        for policy, (model, wall) in trained.items():
            record = {"dataset": "fashion_mnist", "n_labeled": len(data.y), "method": policy,
                      "seed": seed, "steps": args.steps,
                      "test_accuracy": round(model.score(data.x_test, data.y_test), 4),
                      "view_accuracy": round(view_accuracy(clean, policy, data, seed), 4),
                      "wall_s": round(wall, 1), "commit": commit}
            print(record, flush=True)
            runs.append(record)
    write_outputs(args, runs, table, settings={"steps": args.steps})


if __name__ == "__main__":
    main()
