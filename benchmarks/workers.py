"""One worker against two: the same trajectory at the same global batch, and what it costs.

The script runs `fewlabels.testing.cluster_fits` (FixMatch, FlexMatch, self-training with
its baseline, and teacher-student, on wine with 10 labels per class, through `fit_run`)
once as one process (`--strategy none`) and once as a cluster of two worker processes on
loopback (`--strategy multi-worker`, `TF_CONFIG`), on the JAX backend, and compares each
method's loss per epoch and final weights. Both workers share this machine's cores, so
the wall time shows the cost of the cluster, not a speed-up.

Run: `python benchmarks/workers.py` (about 2 minutes). It writes
`benchmarks/results/workers.json` and `docs/benchmarks/workers.md`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_parser, footer, write_outputs


def trained(run: Path) -> tuple[list, list, float | None]:
    """Loss per epoch (every stage), final weights, test accuracy."""
    import keras

    from fewlabels.testing.cluster import run_losses

    losses = run_losses(run)
    metrics = json.loads((run / "metrics.json").read_text())
    accuracy = metrics["results"][-1]["metrics"]["accuracy"] if metrics.get("results") else None
    return losses, keras.saving.load_model(run / "model.keras").get_weights(), accuracy


def main() -> None:
    from fewlabels.testing.cluster import run_workers
    from fewlabels.testing.cluster_fits import FITS
    from fewlabels.testing.tables import partly_labeled_wine

    parser = base_parser("workers", __doc__.splitlines()[0], default_seeds="0")
    args = parser.parse_args()
    runs, walls = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        table_file = partly_labeled_wine(root)
        for name, workers, strategy in (("one", 1, "none"), ("two", 2, "multi-worker")):
            start = time.perf_counter()
            codes = run_workers([str(table_file), str(root / name)], workers=workers,
                                logs=root / name, strategy=strategy,
                                module="fewlabels.testing.cluster_fits", timeout_s=600)
            walls[name] = round(time.perf_counter() - start, 1)
            assert codes == [0] * workers, (root / name / "worker-0.log").read_text()[-2000:]
        for method in FITS:
            (loss1, w1, acc1), (loss2, w2, acc2) = (trained(root / n / method)
                                                   for n in ("one", "two"))
            runs.append({
                "dataset": "wine, 10 labels per class", "n_labeled": 30, "method": method,
                "seed": 0, "test_accuracy": acc2, "wall_s": walls["two"],
                "one_worker_accuracy": acc1, "epochs": len(loss1),
                "loss_one": loss1, "loss_two": loss2,
                "max_loss_difference": float(np.max(np.abs(np.subtract(loss1, loss2)))),
                "max_weight_difference": float(max(np.max(np.abs(a - b))
                                                   for a, b in zip(w1, w2, strict=True))),
                "wall_one_s": walls["one"], "wall_two_s": walls["two"]})
            print(json.dumps({k: v for k, v in runs[-1].items() if "loss_" not in k}),
                  flush=True)
    write_outputs(args, runs, table)


def table(runs, info) -> str:
    lines = ["| method | epochs | final loss, one worker | final loss, two workers | "
             "largest loss difference | largest weight difference | test accuracy (one / two) |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r['method']} | {r['epochs']} | {r['loss_one'][-1]:.6f} | "
            f"{r['loss_two'][-1]:.6f} | {r['max_loss_difference']:.1e} | "
            f"{r['max_weight_difference']:.1e} | {r['one_worker_accuracy']:.4f} / "
            f"{r['test_accuracy']:.4f} |")
    lines.append(f"\nThe workers and the one process run on JAX (the versions below are the "
                 f"driver's). Wall time for the {len(runs)} fits, start-up included: one "
                 f"process {runs[0]['wall_one_s']} s, two workers {runs[0]['wall_two_s']} s "
                 "(both on the same 2 cores).")
    return "\n".join(lines + footer(info))


if __name__ == "__main__":
    main()
