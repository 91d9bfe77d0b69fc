"""Peak memory of in-memory image training, against the size of the unlabeled pool.

Each run is a fresh Python process that builds a pool of random 32x32x3 `uint8` images (400
of them labeled, 10 classes), trains a few steps of FixMatch or one self-training round, and
reports its peak resident memory (`ru_maxrss`). Two pool sizes separate the fixed cost of
TensorFlow, Keras and XLA from what the pool adds: the ratio is the extra peak memory per
byte of pool.

Run: `python benchmarks/memory.py --seeds 1`. It writes `benchmarks/results/memory.json` and
`docs/benchmarks/memory.md`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, parse_seeds, write_outputs

POOLS = (1_000, 86_700)  # 3 MB and 254 MB of 32x32x3 uint8 images
METHODS = ("fixmatch", "self-training")

CHILD = """
import resource, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
import fewlabels
method, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
y = np.full(n, -1)
y[:400] = np.arange(400) % 10
if method == "fixmatch":
    fewlabels.ConsistencyTraining(method="fixmatch", seed=seed,
                                  budget=fewlabels.Budget(20, steps_per_epoch=10)).fit(x, y)
else:
    fewlabels.SelfTraining(rounds=1, stopping=fewlabels.Stopping(1, min_steps=0),
                           finetune=fewlabels.FineTune(1), seed=seed).fit(x, y)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_mib(method: str, n: int, seed: int) -> float:
    done = subprocess.run([sys.executable, "-c", CHILD, method, str(n), str(seed)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = base_parser("memory", __doc__.splitlines()[0], default_seeds="1")
    args = parser.parse_args()
    runs = []
    for seed in parse_seeds(args.seeds):
        for method in METHODS:
            for n in POOLS:
                run = {"dataset": f"random 32x32x3 uint8, {n} images", "n_labeled": 400,
                       "method": method, "seed": seed, "test_accuracy": None, "wall_s": None,
                       "pool_mib": round(n * 32 * 32 * 3 / 2**20, 1),
                       "peak_mib": round(peak_mib(method, n, seed), 1)}
                runs.append(run)
                print(json.dumps(run), flush=True)
    write_outputs(args, runs, table)


def table(runs, info) -> str:
    lines = ["| method | pool MiB | peak MiB | extra peak per MiB of pool |", "|---|---|---|---|"]
    for method in METHODS:
        rows = sorted((r for r in runs if r["method"] == method), key=lambda r: r["pool_mib"])
        small, large = rows[0], rows[-1]
        ratio = (large["peak_mib"] - small["peak_mib"]) / (large["pool_mib"] - small["pool_mib"])
        for r in rows:
            extra = f"{ratio:.2f}" if r is large else ""
            lines.append(f"| {method} | {r['pool_mib']} | {r['peak_mib']:.0f} | {extra} |")
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
