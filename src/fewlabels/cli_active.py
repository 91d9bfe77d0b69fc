"""The command that chooses what to label next: `fewlabels suggest`.

Thin, like the rest of the command line: it parses its options and calls the public API
(`fewlabels.workflow.suggest.suggest_run`); `fewlabels fit --labels` takes the answers back.
"""

from __future__ import annotations

import argparse

ACTIVE_COMMANDS = ("suggest",)


def active_parsers(sub) -> None:
    """Add the `suggest` command to the command line's subparsers."""
    from fewlabels.acquisition import STRATEGIES
    from fewlabels.cli_options import trust_option

    suggest = sub.add_parser(
        "suggest", help="rank the unlabeled items of a run's data that are most worth "
        "labelling next, into a CSV to fill in",
        description="Predict the unlabeled items of DATA (read as the run read its training "
        "data) with RUN_DIR's model and write the --budget most worth labelling, best first: "
        "the item (row, path or index), an empty label column to fill in, the strategy's "
        "score, the predicted class and its probability. Give the filled-in file back with "
        "fit DATA --labels FILE.")
    suggest.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by fit")
    suggest.add_argument("data", metavar="DATA", help="the run's training data")
    suggest.add_argument("--budget", type=int, required=True, metavar="K",
                         help="how many items to pick")
    suggest.add_argument("--out", required=True, metavar="FILE", help="the CSV to write")
    suggest.add_argument("--strategy", choices=STRATEGIES, default="diverse-margin",
                         help="diverse-margin (default: margin, the gap between the two most "
                         "probable classes, weighted by the distance to what is labeled in the "
                         "model's feature space), margin, entropy, k-center (core-set: the "
                         "farthest items), typical (the most typical item of each cluster "
                         "without labels: for the first labels), random")
    suggest.add_argument("--seed", type=int, default=0, help="seeds --strategy random")
    suggest.add_argument("--verbose", type=int, choices=[0, 1], default=1,
                         help="1 progress bars while images are read and predicted "
                         "(default); 0 none")
    trust_option(suggest)


def run_active_command(args: argparse.Namespace) -> None:
    """Run `suggest` and print what it wrote."""
    from fewlabels.workflow.suggest import suggest_run

    picks = suggest_run(args.run_dir, args.data, args.out, budget=args.budget,
                        strategy=args.strategy, seed=args.seed,
                        trust_model=args.trust_model, verbose=args.verbose)
    print(f"Wrote {len(picks.indices)} picks ({args.strategy}) to {args.out}: fill in its "
          f"label column, then: fewlabels fit {args.data} --labels {args.out} ...")
