"""The commands for pools and many runs: `fewlabels shard` and `fewlabels sweep`.

Thin, like the rest of the command line: each parses its options and calls the public API
(`fewlabels.data.shards.write_folder_shards`, `fewlabels.workflow.sweep.sweep`).
"""

from __future__ import annotations

import argparse
import tomllib

SCALE_COMMANDS = ("shard", "sweep")


def scale_parsers(sub) -> None:
    """Add the `shard` and `sweep` commands to the command line's subparsers."""
    shard = sub.add_parser(
        "shard", help="write an image folder as tar shards that fit and predict stream",
        description="Check every image of DATA (one subfolder per class, and unlabeled/), "
        "then write them, as they are encoded, into tar shards of --shard-size images with "
        "an index: a shard directory, which fit (with --stream-unlabeled), evaluate and "
        "predict read in bounded memory.")
    shard.add_argument("data", metavar="DATA", help="the image folder")
    shard.add_argument("--out", required=True, metavar="DIR", help="the new shard directory")
    shard.add_argument("--shard-size", type=int, default=10_000, metavar="N",
                       help="images per shard (default: 10000)")
    shard.add_argument("--unlabeled", default="unlabeled", metavar="NAME",
                       help="the subfolder of unlabeled images (default: unlabeled)")
    shard.add_argument("--on-bad-image", choices=["error", "skip"], default="error",
                       help="a file that fails the pre-scan stops (error, default) or is left "
                       "out with a warning (skip)")
    sweep = sub.add_parser(
        "sweep", help="fit every seed and grid point as a Ray task, a run directory each",
        description="Run fit once per seed and grid point, each as a Ray task (a local Ray "
        "by default, or a cluster's with --address), into DIR/<name>, the run directory "
        "fit --out DIR/<name> writes; DIR/sweep.json lists the runs and their accuracy.")
    sweep.add_argument("data", metavar="DATA", help="the training data, as fit reads it")
    sweep.add_argument("--out", required=True, metavar="DIR", help="the folder of the runs")
    sweep.add_argument("--method", default="auto", help="the method, as fit takes it")
    sweep.add_argument("--seeds", default="0", metavar="S,S,...",
                       help="the seeds of every grid point (default: 0)")
    sweep.add_argument("--grid", action="append", default=[], metavar="NAME=V,V,...",
                       help="a parameter and its values (repeatable): threshold=0.9,0.95")
    sweep.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="a parameter or fit option for every run (repeatable): steps=500")
    sweep.add_argument("--address", default=None,
                       help="a Ray cluster's address (default: a local Ray for the sweep)")
    sweep.add_argument("--cpus-per-run", type=int, default=1, metavar="N",
                       help="CPUs (and TensorFlow threads) each run takes (default: 1)")
    sweep.add_argument("--overwrite", action="store_true",
                       help="replace the runs of an earlier sweep in DIR")


def literal(text: str):
    """A value as TOML reads it (`0.9`, `true`, `"adam"`, `[16, 16]`), else the text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _assignment(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{what} takes NAME=VALUE; got {text!r}.")
    return name.strip().replace("-", "_"), value


def run_scale_command(args: argparse.Namespace) -> None:
    """Run `shard` or `sweep` and print what it wrote."""
    if args.command == "shard":
        from fewlabels.data.shards import open_shards, write_folder_shards

        pool = open_shards(write_folder_shards(args.data, args.out, shard_size=args.shard_size,
                                               on_bad_image=args.on_bad_image,
                                               unlabeled=args.unlabeled))
        print(f"Wrote {len(pool)} images ({int((pool.y >= 0).sum())} labeled) in "
              f"{len(pool.files)} shards to {args.out}/")
        return
    from fewlabels.errors import InputError
    from fewlabels.workflow.sweep import sweep

    try:
        grid = {name: [literal(v) for v in values.split(",")]
                for name, values in (_assignment(g, "--grid") for g in args.grid)}
        fixed = {name: literal(value)
                 for name, value in (_assignment(s, "--set") for s in args.set)}
        seeds = [int(s) for s in args.seeds.split(",")]
    except (argparse.ArgumentTypeError, ValueError) as error:
        raise InputError(str(error)) from None
    result = sweep(args.data, args.out, method=args.method, seeds=seeds, grid=grid,
                   address=args.address, cpus_per_run=args.cpus_per_run,
                   overwrite=args.overwrite, **fixed)
    print(result["table"])
    print(f"\nWrote {len(result['runs'])} runs and sweep.json to {args.out}/")
