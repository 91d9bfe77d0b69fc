"""A multi-worker `fewlabels fit` on this machine: worker processes on loopback ports.

`fit --strategy multi-worker` runs one process per worker, each told its place by
`TF_CONFIG`, as on a real cluster (docs/distributed.md). This starts them as local
processes on free 127.0.0.1 ports, on the JAX backend, with a bounded time, and kills what
is left when it returns. `multiworker_test.py` and `benchmarks/scaling.py` use it.

Example:
```python
done = run_workers(["fit", "data.csv", "--out", "run", "--method", "fixmatch"], workers=2)
assert all(p.returncode == 0 for p in done)
```
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fewlabels.training.distribute import HEARTBEAT_ENV


def free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports free on 127.0.0.1 now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    """`TF_CONFIG` for worker `index` of a loopback cluster on `ports`."""
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def worker_env(ports: list[int], index: int, heartbeat_s: int = 5) -> dict:
    """The environment of worker `index`: JAX, its `TF_CONFIG`, a short heartbeat."""
    return {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_CONFIG": tf_config(ports, index), HEARTBEAT_ENV: str(heartbeat_s),
            "PYTHONUNBUFFERED": "1"}


def start_workers(args: list[str], workers: int, logs: Path, strategy: str = "multi-worker",
                  module: str = "fewlabels") -> list[subprocess.Popen]:
    """Start `workers` processes of `python -m MODULE ARGS --strategy STRATEGY`, each
    writing its output to `logs/worker-<i>.log`."""
    ports = free_ports(workers)
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", module, *args, "--strategy", strategy]
    processes = []
    for index in range(workers):
        with open(logs / f"worker-{index}.log", "w") as log:
            processes.append(subprocess.Popen(command, env=worker_env(ports, index),
                                              stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
    return processes


def wait_all(processes: list[subprocess.Popen], timeout_s: float) -> list[int]:
    """The exit codes, once every process ended; those still running after `timeout_s`
    are killed (their code is then -9)."""
    deadline = time.monotonic() + timeout_s
    try:
        for p in processes:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                break
    finally:
        for p in processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    return [p.returncode for p in processes]


def run_workers(args: list[str], *, workers: int = 2, logs: Path, timeout_s: float = 300,
                kill_when: Callable[[], bool] | None = None, kill: int = 1,
                strategy: str = "multi-worker", module: str = "fewlabels") -> list[int]:
    """Run a multi-worker command to its end (or until `kill_when()` holds, then SIGKILL
    worker `kill` and let the others fail).

    Args:
        args: the `fewlabels` arguments (without `--strategy`).
        workers: processes in the cluster.
        logs: the folder of the workers' logs.
        timeout_s: the most the run may take; then every process is killed.
        kill_when: polled every 0.2 s while the workers run.
        kill: the worker to kill when `kill_when()` holds.
        strategy: `--strategy` (`"none"` with one worker: the one-process reference).
        module: the module each process runs (`fewlabels`: the command line).

    Returns:
        Each worker's exit code.
    """
    processes = start_workers(args, workers, logs, strategy, module)
    deadline = time.monotonic() + timeout_s
    if kill_when is not None:
        while time.monotonic() < deadline and processes[kill].poll() is None:
            if kill_when():
                os.killpg(processes[kill].pid, signal.SIGKILL)
                break
            time.sleep(0.2)
    return wait_all(processes, max(1.0, deadline - time.monotonic()))


def run_losses(run_dir: Path) -> list[float]:
    """Every loss a run directory's `history.json` records, in order: each epoch of each
    stage (a teacher's, students', self-training's rounds, the baseline's)."""
    found: list[float] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "loss" and isinstance(value, list):
                    found.extend(float(v) for v in value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads((Path(run_dir) / "history.json").read_text()))
    return found
