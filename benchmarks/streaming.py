"""FixMatch with the unlabeled pool streamed from disk against the same pool in memory.

Setting: Fashion-MNIST written as PNG files to a temporary image folder: 40 labeled images
per class (400, in class folders, seeded) and `--unlabeled` unlabeled training images in
`unlabeled/`. The folder is read twice: `load_images(root)` decodes everything into memory;
`load_images(root, stream_unlabeled=True)` decodes the labeled images only and training
reads the unlabeled files from disk per batch. Both train the same FixMatch (compact CNN
16-32-64, B = 32, uratio = 7, XLA on) for the same steps, alternately, in rounds, in one
process, and the seconds per step (after the first epoch, which pays the compile) and the
decoded images each keeps in memory are compared. `test_accuracy` does not apply (the two
read the same batches; `streaming_test.py` checks that they are equal).

Run: `python benchmarks/streaming.py --seeds 1` (about 5 minutes on 2 cores).
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
from fewlabels.data.sources import load_images
from fewlabels.estimators.consistency import ConsistencyTraining

MODES = ("in memory", "streamed from disk")


def write_folder(root: Path, x, y_partial, n_unlabeled: int) -> None:
    from PIL import Image

    unlabeled = np.flatnonzero(y_partial < 0)[:n_unlabeled]
    for i in [*np.flatnonzero(y_partial >= 0), *unlabeled]:
        folder = root / (f"class{y_partial[i]}" if y_partial[i] >= 0 else "unlabeled")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i, :, :, 0]).save(folder / f"{i:05d}.png")


def time_mode(mode: str, root: Path, args, seed: int) -> dict:
    start = time.perf_counter()
    data = load_images(root, image_size=28, channels=1,
                       stream_unlabeled=mode == MODES[1])
    load_s = time.perf_counter() - start
    model = ConsistencyTraining.for_method("fixmatch", cnn_widths=(16, 32, 64), steps=args.steps,
                                steps_per_epoch=args.steps // 3, jit_compile=True,
                                deterministic=False, seed=seed)
    model.fit(data.x, data.y, unlabeled_files=data.unlabeled_files)
    walls = model.epoch_wall_s_
    per_step = (walls[-1] - walls[0]) / (args.steps - args.steps // 3)
    return {"dataset": "fashion_mnist (PNG folder)", "n_labeled": int(np.sum(data.y >= 0)),
            "method": f"fixmatch, {mode}", "mode": mode, "seed": seed, "test_accuracy": None,
            "wall_s": round(walls[-1], 2), "steps": args.steps,
            "seconds_per_step": round(per_step, 4),
            "n_unlabeled": model.n_unlabeled_, "load_s": round(load_s, 2),
            "decoded_bytes_in_memory": int(data.x.nbytes)}


def main() -> None:
    parser = base_parser("streaming", __doc__.splitlines()[0], default_seeds="1")
    parser.add_argument("--unlabeled", type=int, default=20000,
                        help="unlabeled images written to the folder (default: 20000)")
    parser.add_argument("--steps", type=int, default=90, help="steps per timed run")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs per mode")
    args = parser.parse_args()
    data = load_image_dataset("fashion_mnist")
    runs = []
    for seed in parse_seeds(args.seeds):
        y_partial, _ = hide_labels(data.y, 40, seed)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "fmnist"
            write_folder(root, data.x, y_partial, args.unlabeled)
            for r in range(args.rounds):
                for mode in MODES:
                    runs.append({**time_mode(mode, root, args, seed), "round": r})
                    print(runs[-1], flush=True)
    write_outputs(args, runs, table)


def table(runs: list[dict], info: dict) -> str:
    lines = ["FixMatch on a Fashion-MNIST PNG folder (400 labeled, "
             f"{runs[0]['n_unlabeled']} unlabeled), compact CNN 16-32-64, B = 32, uratio = 7, "
             "XLA on; seconds per step after the first epoch.", "",
             "| unlabeled pool | s/step | folder read s | decoded images in memory |",
             "|---|---|---|---|"]
    means = {}
    for mode in MODES:
        rows = [r for r in runs if r["mode"] == mode]
        means[mode] = np.mean([r["seconds_per_step"] for r in rows])
        lines.append(f"| {mode} | {mean_std([r['seconds_per_step'] for r in rows])} | "
                     f"{np.mean([r['load_s'] for r in rows]):.1f} | "
                     f"{rows[0]['decoded_bytes_in_memory'] / 2**20:.1f} MiB |")
    lines += ["", f"Streamed / in memory, seconds per step: "
              f"{means[MODES[1]] / means[MODES[0]]:.2f}x."]
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
