"""What every benchmark shares: the metadata block, seeds, result files and summary tables.

The JSON shape is the project's benchmark convention: `{"meta": {...}, "runs": [...]}`.
"""

from __future__ import annotations

import argparse
import datetime as dt
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


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        ram = round(pages * size / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram, "platform": platform.platform()}


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
    """The lines under every table: command, date, machine and versions."""
    m = info["machine"]
    return [
        "",
        f"Command: `{info['command']}`. Date: {info['date']}. Machine: {m['cpu']}, "
        f"{m['cores']} cores, {m['ram_gib']} GiB RAM. Versions: "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
        "",
    ]


def write_outputs(args, runs: list[dict], table) -> None:
    """Write the results JSON and the markdown table (`table(runs, info)` makes its text)."""
    from fewlabels.io import write_json, write_text

    info = meta()
    write_json(args.out, {"meta": info, "runs": runs})
    write_text(args.table, table(runs, info))
    print(f"wrote {args.out} and {args.table}")


def mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.3f}"


def summarize(runs: list[dict], key: str, row_key: str, col_key: str) -> dict:
    """{row: {col: [values]}} of `key` over runs."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for run in runs:
        out[run[row_key]][run[col_key]].append(run[key])
    return out
