"""Pools bigger than memory: peak memory and time per epoch against the unlabeled pool's size.

The script makes synthetic pools of small images (28x28 gray PNGs: ten classes of bars at
ten angles, with noise, every image drawn on its own) and writes each as a shard directory
with `fewlabels.data.shards.ShardWriter` (what `fewlabels shard` writes). For each pool
size, in a fresh Python process each:

- train: FixMatch (compact CNN, batch 32, uratio 7: 224 unlabeled images a step) streams
  the unlabeled pool from the shards (`unlabeled_files=`), 100 labels in memory, for two
  epochs of `--steps` steps; the second epoch is timed (the first includes tracing). Each
  step reads its images by position anywhere in the pool, so its cost does not depend on the
  pool's size: a pass over the pool (pool / 224 steps) costs that many steps. It reports
  the seconds per step and the peak resident memory (`ru_maxrss`);
- label: `fewlabels predict` labels the whole pool from the shards, writing a CSV row per
  image; the wall time and the peak resident memory.

Time per pass should grow linearly with the pool, memory not at all.

Run: `python benchmarks/pool_scale.py --sizes 10000,100000,1000000 --work /tmp/pools`
(about 30 minutes on 2 cores, most of it labelling the million; the noisy PNGs take 1.5 GB
of disk per million images). It writes `benchmarks/results/pool_scale.json` and
`docs/benchmarks/pool_scale.md`.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, write_outputs

SIDE, CLASSES, LABELED = 28, 10, 100
BATCH, URATIO = 32, 7


def image(rng, cls: int) -> np.ndarray:
    """A bar at the class's angle through a random point, with noise: 28x28 uint8."""
    yy, xx = np.mgrid[:SIDE, :SIDE] - SIDE / 2 + rng.normal(0, 2, 2)[:, None, None]
    angle = np.pi * cls / CLASSES
    distance = np.abs(xx * np.sin(angle) - yy * np.cos(angle))
    pixels = 220 * np.exp(-distance**2 / 4) + rng.normal(0, 20, (SIDE, SIDE))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def make_pool(folder: Path, n: int, seed: int) -> Path:
    """A shard directory of `LABELED` labeled and `n` unlabeled images (kept if present)."""
    from PIL import Image

    from fewlabels.data.shards import MANIFEST, ShardWriter

    if (folder / MANIFEST).is_file():
        return folder
    rng = np.random.default_rng(seed)
    with ShardWriter(folder, [f"angle{c}" for c in range(CLASSES)]) as writer:
        for i in range(LABELED + n):
            cls = i % CLASSES
            buffer = io.BytesIO()
            Image.fromarray(image(rng, cls)).save(buffer, format="PNG")
            kind = f"angle{cls}" if i < LABELED else "unlabeled"
            writer.add(f"{kind}/{i:08d}.png", buffer.getvalue(), cls if i < LABELED else -1)
    return folder


TRAIN = """
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
import fewlabels
from fewlabels.data.sources import load_images
pool, steps, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = load_images(pool, image_size=28, channels=1, stream_unlabeled=True)
model = fewlabels.ConsistencyTraining(
    method="fixmatch", model="cnn", batch_size=BATCH, uratio=URATIO, seed=seed,
    budget=fewlabels.Budget(2 * steps, steps_per_epoch=steps))  # the second epoch is timed
start = time.perf_counter()
model.fit(data.x, data.y, classes=data.classes, unlabeled_files=data.unlabeled_files)
print(json.dumps({"wall_s": time.perf_counter() - start, "epoch_s": model.epoch_wall_s_[-1],
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""".replace("BATCH", str(BATCH)).replace("URATIO", str(URATIO))


def child(code_or_args: list[str]) -> dict:
    """Run a fresh Python process; its last line of output (JSON)."""
    done = subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


LABEL = """
import json, resource, sys, time
from fewlabels import cli
start = time.perf_counter()
assert cli.main(["predict", sys.argv[1], sys.argv[2], "--out", sys.argv[3], "--verbose", "0"]) == 0
print(json.dumps({"wall_s": time.perf_counter() - start,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def save_run(pool: Path, out: Path, seed: int) -> None:
    """A small fitted run to label with (its training is not measured)."""
    from fewlabels import cli

    if not (out / "model.keras").is_file():
        assert cli.main(["fit", str(pool), "--out", str(out), "--method", "fixmatch",
                         "--model", "cnn", "--image-size", "28", "--channels", "1",
                         "--stream-unlabeled", "--steps", "50", "--no-baseline",
                         "--test-fraction", "0", "--seed", str(seed), "--verbose", "0"]) == 0


def main() -> None:
    parser = base_parser("pool_scale", __doc__.splitlines()[0], default_seeds="0")
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="unlabeled pool sizes, comma-separated")
    parser.add_argument("--steps", type=int, default=60,
                        help="training steps timed at each size (after as many untimed)")
    parser.add_argument("--work", default="/tmp/fewlabels-pools",
                        help="where the pools (shard directories) are written and kept")
    args = parser.parse_args()
    work, seed, runs = Path(args.work), int(args.seeds.split(",")[0]), []
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        start = time.perf_counter()
        pool = make_pool(work / f"pool-{n}", n, seed)
        made = time.perf_counter() - start
        disk = sum(p.stat().st_size for p in pool.iterdir()) / 2**20
        steps = -(-n // (BATCH * URATIO))  # a pass over the pool
        train = child(["-c", TRAIN, str(pool), str(args.steps), str(seed)])
        if n == sizes[0]:
            save_run(pool, work / "run", seed)
        label = child(["-c", LABEL, str(work / "run"), str(pool), str(work / f"labels-{n}.csv")])
        run = {"dataset": f"synthetic 28x28 gray PNG shards, {n} unlabeled", "n_labeled": LABELED,
               "method": "fixmatch", "seed": seed, "test_accuracy": None,
               "wall_s": round(train["wall_s"], 1), "pool": n, "pass_steps": steps,
               "timed_steps": args.steps, "step_s": round(train["epoch_s"] / args.steps, 3),
               "train_peak_mib": round(train["peak_mib"]),
               "label_s": round(label["wall_s"], 1), "label_peak_mib": round(label["peak_mib"]),
               "shards_mib": round(disk), "decoded_mib": round(n * SIDE * SIDE / 2**20),
               "made_s": round(made, 1)}
        runs.append(run)
        print(json.dumps(run), flush=True)
    write_outputs(args, runs, table)


def table(runs, info) -> str:
    lines = ["| unlabeled pool | shards MiB | decoded MiB | training: s per step | "
             "steps per pass | s per pass | peak MiB | labelling the pool: s | µs per image | "
             "peak MiB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r['pool']:,} | {r['shards_mib']} | {r['decoded_mib']} | {r['step_s']} | "
            f"{r['pass_steps']:,} | {r['step_s'] * r['pass_steps']:.0f} | "
            f"{r['train_peak_mib']} | {r['label_s']} | {1e6 * r['label_s'] / r['pool']:.0f} | "
            f"{r['label_peak_mib']} |")
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
