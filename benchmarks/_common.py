"""What every benchmark shares: the metadata block, seeds, result files and summary tables.

The JSON shape is the project's benchmark convention: `{"meta": {...}, "runs": [...]}`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def parse_seeds(text: str) -> list[int]:
    """`"5"` means seeds 0..4; `"0,3,7"` lists them."""
    if "," in text:
        return [int(s) for s in text.split(",") if s.strip()]
    return list(range(int(text)))


def base_parser(name: str, description: str, default_seeds: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", default=default_seeds,
                        help=f"a count (0..N-1) or a comma list (default: {default_seeds})")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / f"{name}.json"),
                        help="the results JSON")
    parser.add_argument("--table", default=str(REPO / "docs" / "benchmarks" / f"{name}.md"),
                        help="the markdown table the docs include")
    return parser


# The instruction sets that decide which kernels TensorFlow's oneDNN and XLA pick.
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")
# What makes two machines the same for a wall-clock budget; /proc/cpuinfo's model name alone
# does not ("AMD EPYC" names CPUs more than 2x apart in speed per step).
MACHINE_IDENTITY = ("cpu", "cpu_family", "cpu_model", "stepping", "isa", "cores")


def machine() -> dict:
    """The CPU (model name, family, model, stepping, vector instruction sets), cores and RAM."""
    cpu = platform.processor() or "unknown"
    fields: dict = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key in ("model name", "cpu family", "model", "stepping", "flags") \
                    and key not in fields:
                fields[key] = value
            if key == "" and fields:  # the first processor's block is enough
                break
    except OSError:
        pass
    cpu = fields.get("model name", cpu)
    flags = set(fields.get("flags", "").split())
    ram = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        ram = round(pages * size / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"cpu": cpu, "cpu_family": fields.get("cpu family"), "cpu_model": fields.get("model"),
            "stepping": fields.get("stepping"), "isa": [f for f in ISA_FLAGS if f in flags],
            "cores": os.cpu_count(), "ram_gib": ram, "platform": platform.platform()}


def describe_machine(m: dict) -> str:
    """`AMD EPYC (family 26, model 2, AVX-512), 2 cores, 23.5 GiB RAM`; older files, made
    before the family was recorded, say so."""
    if m.get("cpu_family") is None:
        cpu = f"{m['cpu']} (family and model not recorded)"
    else:
        vector = "AVX-512" if "avx512f" in m.get("isa", []) else \
            "AVX2" if "avx2" in m.get("isa", []) else "no AVX2"
        cpu = f"{m['cpu']} (family {m['cpu_family']}, model {m['cpu_model']}, {vector})"
    return f"{cpu}, {m['cores']} cores, {m['ram_gib']} GiB RAM"


def meta() -> dict:
    import tensorflow as tf

    from fewlabels.workflow import versions

    return {
        "command": " ".join(shlex.quote(a) for a in [sys.executable.split("/")[-1], *sys.argv]),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
        "threads": {
            "cpu_count": os.cpu_count(),
            "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads() or "default",
            "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads() or "default",
        },
    }


def footer(info: dict) -> list[str]:
    """The lines under every table: command, date, machine and versions.

    A results file grown over several invocations (`--resume`) names every command and its
    date."""
    m = info["machine"]
    invocations = info.get("invocations") or []
    if len(invocations) > 1:
        made = "Commands (the runs were made in this order, each invocation adding its own): " \
            + "; ".join(f"`{i['command']}` ({i['date']})" for i in invocations) + "."
    else:
        made = f"Command: `{info['command']}`. Date: {info['date']}."
    return [
        "",
        f"{made} Machine: {describe_machine(m)}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
        "",
    ]


def add_resume(parser: argparse.ArgumentParser) -> None:
    """`--resume`: keep the runs already in `--out` and make only the missing ones."""
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in --out (made with the same settings) and "
                        "make only the missing ones; a long benchmark can be run in parts")


def previous_runs(args, settings: dict) -> tuple[list[dict], list[dict]]:
    """The runs and invocations already in `args.out`, when `--resume` asks for them.

    Refuses a file made with other settings, naming the settings that differ, or on another
    machine (`MACHINE_IDENTITY`): runs made with different settings, or timed on different
    CPUs, must not share a table."""
    path = Path(args.out)
    if not getattr(args, "resume", False) or not path.exists():
        return [], []
    from fewlabels.files import read_json

    data = read_json(path)
    before = data.get("meta", {}).get("settings")
    now = json.loads(json.dumps(settings))
    if before != now:
        before = before or {}
        differ = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        detail = ", ".join(f"{k}: {before.get(k)!r} there, {now.get(k)!r} now" for k in differ)
        raise SystemExit(f"--resume: {path} was made with other settings ({detail}); "
                         "use the same settings or another --out")
    info = data["meta"]
    there = {k: info.get("machine", {}).get(k) for k in MACHINE_IDENTITY}
    here = {k: json.loads(json.dumps(machine()[k])) for k in MACHINE_IDENTITY}
    if there != here:
        raise SystemExit(
            f"--resume: {path} was timed on another machine ({describe_machine(info['machine'])}"
            f"; this one: {describe_machine(machine())}); runs under a wall-clock budget on "
            "different machines must not share a table: use another --out")
    invocations = info.get("invocations") or [{"command": info["command"],
                                               "date": info["date"]}]
    return list(data.get("runs", [])), list(invocations)


def git_commit() -> str | None:
    """The repository's current commit (with `+` when the work tree has changes), if known."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")


def write_outputs(args, runs: list[dict], table, settings: dict | None = None,
                  earlier: list[dict] | None = None) -> None:
    """Write the results JSON and the markdown table (`table(runs, info)` makes its text).

    `settings` (what every run shares) is kept in the meta block, so that `--resume` can
    refuse to mix runs made otherwise; `earlier` lists the invocations whose runs `runs`
    already holds."""
    from fewlabels.files import write_json, write_text

    info = meta()
    if settings is not None:
        info["settings"] = settings
    if earlier is not None:
        info["invocations"] = [*earlier, {"command": info["command"], "date": info["date"]}]
    write_json(args.out, {"meta": info, "runs": runs})
    write_text(args.table, table(runs, info))
    print(f"wrote {args.out} and {args.table}")


def first_reaching(curve, level: float) -> float | None:
    """The first x of a curve of (x, accuracy) points whose accuracy reaches `level` (None:
    never)."""
    return next((float(x) for x, accuracy in curve if accuracy >= level), None)


def mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.3f}"


def summarize(runs: list[dict], key: str, row_key: str, col_key: str) -> dict:
    """{row: {col: [values]}} of `key` over runs."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for run in runs:
        out[run[row_key]][run[col_key]].append(run[key])
    return out


COMPACT_CNN = (16, 32, 64)
"""The filters of the compact CNN of the Fashion-MNIST recipe."""


def compact_cnn_method(method: str, steps: int, uratio: int, seed: int):
    """`method` (a consistency algorithm, or `supervised`) on the compact CNN for `steps`
    steps, `uratio` unlabeled images per labeled one; its default recipe otherwise (batch 32,
    SGD, EMA)."""
    import fewlabels

    return fewlabels.ConsistencyTraining(
        method=method, model=fewlabels.Network("cnn", cnn_widths=COMPACT_CNN),
        budget=fewlabels.Budget(steps, steps_per_epoch=min(100, steps)), uratio=uratio,
        seed=seed)
