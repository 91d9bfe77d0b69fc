"""Many runs at once on Ray: seeds, and a grid of parameters.

`sweep` (and `fewlabels sweep`) runs `fit_run` once per seed and grid point, each as a Ray
task, into `OUT/<name>`: the run directory that `fewlabels fit ... --out OUT/<name>` would
write, one by one. It starts a local Ray on this machine by default (as many runs at once
as `cpus / cpus_per_run`), or joins a Ray cluster by its address. Every combination is
checked before any task starts, so a bad value stops the sweep at the door, naming it.
`OUT/sweep.json` lists the runs, their settings and test accuracy.

Example:
```python
result = sweep("wine.csv", "sweeps/wine", method="fixmatch", seeds=[0, 1, 2],
               grid={"threshold": [0.9, 0.95]}, steps=500)
print(result["table"])
```
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import Any

from fewlabels.errors import InputError
from fewlabels.files import write_json

SWEEP_FILE = "sweep.json"


def plan(seeds, grid: dict[str, list] | None) -> list[tuple[str, dict]]:
    """`(name, parameters)` per run: every grid point, for every seed.

    Args:
        seeds: the seeds.
        grid: `{parameter: [values]}`; the runs take every combination.

    Returns:
        The runs, named `seed-0`, `threshold-0.9_seed-0`, ... (a run directory's name).
    """
    grid = dict(grid or {})
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                            for s in seeds):
        raise InputError(f"seeds must be integers >= 0, at least one; got {seeds!r}.")
    for name, values in grid.items():
        if name == "seed":
            raise InputError("seed is swept by seeds=, not by the grid.")
        if not isinstance(values, list | tuple) or not values:
            raise InputError(f"grid[{name!r}] must be a non-empty list of values; got "
                             f"{values!r}.")
    runs = []
    for point in itertools.product(*grid.values()):
        params = dict(zip(grid, point, strict=True))
        for seed in seeds:
            name = "_".join(f"{k}-{v}" for k, v in [*params.items(), ("seed", seed)])
            runs.append((name.replace("/", "-").replace(" ", ""), {**params, "seed": seed}))
    return runs


def sweep(data: str | os.PathLike, out: str | os.PathLike, *, method: str = "auto",
          seeds=(0,), grid: dict[str, list] | None = None, address: str | None = None,
          cpus_per_run: int = 1, overwrite: bool = False, **options: Any) -> dict:
    """Fit every seed and grid point as a Ray task; a run directory each, under `out`.

    Args:
        data: the training data, as `fit_run` takes it.
        out: the folder of the runs (`out/<name>`) and of `sweep.json`.
        method: the method, as `fit_run` takes it.
        seeds: the seeds each grid point runs with.
        grid: `{parameter: [values]}` of estimator or algorithm parameters.
        address: a Ray cluster's address (`ray://host:10001`, or `"auto"` for the cluster
            this machine belongs to); None starts a local Ray for the sweep.
        cpus_per_run: CPUs each run takes (and TensorFlow's threads in it).
        overwrite: replace the runs of an earlier sweep in `out`.
        **options: every other `fit_run` option, the same for all runs.

    Returns:
        `{"runs": [...], "table": str}`: per run its name, settings, run directory and
        test accuracy.
    """
    from fewlabels.workflow.experiment import estimator_for

    runs = plan(seeds, grid)
    if not isinstance(cpus_per_run, int) or cpus_per_run < 1:
        raise InputError(f"cpus_per_run must be an integer >= 1; got {cpus_per_run!r}.")
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out}: not empty; choose another folder, or pass overwrite=True "
                         "(--overwrite) to replace its runs.")
    data = str(Path(data).resolve()) if Path(data).exists() else str(data)
    for _, params in runs:  # at the door: a bad value is named before anything runs
        estimator_for(method, images=_images(data),
                      streamed=bool(options.get("stream_unlabeled")),
                      **{**_without_run_options(options), **params})
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        env = {"TF_NUM_INTRAOP_THREADS": str(cpus_per_run), "TF_NUM_INTEROP_THREADS": "1",
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env})
    try:
        task = ray.remote(num_cpus=cpus_per_run)(_one_run)
        pending = [task.remote(data, str(out / name), name, method, overwrite,
                               {**options, **params}) for name, params in runs]
        records = ray.get(pending)
    finally:
        if started:
            ray.shutdown()
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / SWEEP_FILE, {"data": data, "method": method, "grid": grid or {},
                                  "seeds": list(seeds), "runs": records})
    return {"runs": records, "table": table(records)}


def _images(data: str) -> bool:
    from fewlabels.data.sources import is_image_source

    return is_image_source(data)


def _without_run_options(options: dict) -> dict:
    """The options that are estimator parameters (not `fit_run`'s reading options)."""
    from fewlabels.workflow.config import RUN_OPTIONS

    return {k: v for k, v in options.items() if k not in RUN_OPTIONS}


def _one_run(data: str, out: str, name: str, method: str, overwrite: bool,
             params: dict) -> dict:
    """One run, in a Ray worker: `fit_run`, and what the sweep keeps of it."""
    import time

    from fewlabels.workflow import fit_run

    start = time.perf_counter()
    result = fit_run(data, out, method=method, overwrite=overwrite, **params)
    scores = {r["name"]: r["metrics"]["accuracy"] for r in result.results}
    return {"name": name, "run_dir": out, "params": {k: v for k, v in params.items()
                                                      if not isinstance(v, dict)},
            "accuracy": scores.get(result.results[-1]["name"]) if scores else None,
            "results": scores, "wall_s": round(time.perf_counter() - start, 1),
            "pid": os.getpid()}


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError("sweep runs its fits on Ray, which is not installed: pip install "
                         "'fewlabels[ray]'.") from None
    return ray


def table(records: list[dict]) -> str:
    """One line per run (name, test accuracy, seconds), then the mean of each grid point
    over its seeds."""
    lines = [f"{'run':<40}  accuracy  time s", f"{'-' * 40}  --------  ------"]
    groups: dict[str, list[float]] = {}
    for r in records:
        accuracy = "-" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
        lines.append(f"{r['name']:<40}  {accuracy:>8}  {r['wall_s']:>6}")
        point = r["name"].rsplit("_seed-", 1)[0] if "_seed-" in r["name"] else "(all)"
        if r["accuracy"] is not None:
            groups.setdefault(point, []).append(r["accuracy"])
    if any(len(v) > 1 for v in groups.values()):
        lines += ["", f"{'grid point':<40}  mean accuracy (std, seeds)"]
        for point, values in groups.items():
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
            lines.append(f"{point:<40}  {mean:.4f} ({std:.4f}, {len(values)})")
    return "\n".join(lines)
