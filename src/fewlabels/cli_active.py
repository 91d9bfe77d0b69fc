"""The commands that work on a pool around a fit: `fewlabels suggest` (what to label next)
and `fewlabels pretrain` (a network's body trained on the pool before the labels).

Thin, like the rest of the command line: they parse their options and call the public API
(`fewlabels.workflow.suggest.suggest_run`, `fewlabels.workflow.pretrain.pretrain_run`);
`fewlabels fit --labels` takes the answers back, `fit --backbone-weights` the body.
"""

from __future__ import annotations

import argparse

ACTIVE_COMMANDS = ("suggest", "pretrain")


def active_parsers(sub) -> None:
    """Add the `suggest` and `pretrain` commands to the command line's subparsers."""
    from fewlabels.acquisition import STRATEGIES
    from fewlabels.cli_options import trust_option

    suggest = sub.add_parser(
        "suggest", help="rank the unlabeled items of a run's data that are most worth "
        "labelling next, into a CSV to fill in",
        description="Predict the unlabeled items of DATA (read as the run read its training "
        "data) with RUN_DIR's model and write the --budget most worth labelling, best first: "
        "the item (row, path or index), an empty label column to fill in, the strategy's "
        "score, the predicted class and its probability. Give the filled-in file back with "
        "fit DATA --labels FILE. Before any label, RUN_DIR can be a body written by "
        "pretrain (FILE.weights.h5): the items are ranked on its features (typical, k-center "
        "or random).")
    suggest.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by fit, or "
                         "a .weights.h5 body written by pretrain")
    suggest.add_argument("data", metavar="DATA", help="the run's training data")
    suggest.add_argument("--budget", type=int, required=True, metavar="K",
                         help="how many items to pick")
    suggest.add_argument("--out", required=True, metavar="FILE", help="the CSV to write")
    suggest.add_argument("--strategy", choices=STRATEGIES, default=None,
                         help="diverse-margin (the default for a run: margin, the gap "
                         "between the two most "
                         "probable classes, weighted by the distance to what is labeled in the "
                         "model's feature space), margin, entropy, k-center (core-set: the "
                         "farthest items), typical (the most typical item of each cluster "
                         "without labels: for the first labels, and the default for a "
                         "pretrained body), random")
    suggest.add_argument("--seed", type=int, default=0, help="seeds --strategy random")
    suggest.add_argument("--verbose", type=int, choices=[0, 1], default=1,
                         help="1 progress bars while images are read and predicted "
                         "(default); 0 none")
    trust_option(suggest)
    _pretrain_parser(sub)


def _pretrain_parser(sub) -> None:
    from fewlabels.cli_options import image_options, table_options

    pretrain = sub.add_parser(
        "pretrain", help="pretrain a network's body on DATA's items, labels unused, for fit "
        "--backbone-weights",
        description="Train the body of the network a later fit uses (the MLP for a table, the "
        "compact CNN for images, or --architecture) on every item of DATA, with no label: "
        "SimCLR for images (two augmented views of each image), SCARF for tables (each row "
        "and a copy with 60%% of its cells taken from other rows). Writes FILE (.weights.h5) "
        "and FILE's .pretrain.json, which names the fit options that use it.")
    pretrain.add_argument("data", metavar="DATA", help="a table, an image folder, an .npz or "
                          "a built-in image dataset, as fit reads it")
    pretrain.add_argument("--out", required=True, metavar="FILE",
                          help="the weights file to write (name.weights.h5)")
    pretrain.add_argument("--steps", type=int, default=1000, help="optimizer steps (Adam; "
                          "default: 1000)")
    pretrain.add_argument("--batch-size", type=int, default=256,
                          help="items per step, each seen in two views (default: 256)")
    pretrain.add_argument("--learning-rate", type=float, default=1e-3,
                          help="Adam's learning rate (default: 0.001)")
    pretrain.add_argument("--temperature", type=float, default=None,
                          help="the contrastive loss's temperature (default: 0.5 for images, "
                          "1.0 for tables)")
    pretrain.add_argument("--corruption", type=float, default=0.6,
                          help="tables: the share of each row's cells the view replaces "
                          "(default: 0.6)")
    pretrain.add_argument("--no-horizontal-flip", dest="horizontal_flip",
                          action="store_false", help="images: the views never mirror an "
                          "image (digits, text)")
    pretrain.add_argument("--seed", type=int, default=0,
                          help="seeds the network, the batches and the views (default: 0)")
    pretrain.add_argument("--overwrite", action="store_true", help="replace FILE")
    pretrain.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                          help="Keras's progress (default: 1)")
    network = pretrain.add_argument_group("the network (use the same in fit)")
    network.add_argument("--architecture", default="auto",
                         help="auto (the MLP for a table, the compact CNN for images), mlp, "
                         "cnn, wrn, or a .keras file")
    network.add_argument("--hidden-units", default="64,64", metavar="N,N,...",
                         help="mlp: widths of the hidden layers (default: 64,64)")
    network.add_argument("--cnn-widths", default="32,64,128", metavar="N,N,...",
                         help="cnn: filters of its stages (default: 32,64,128)")
    network.add_argument("--activation", default="relu", help="mlp: the hidden activation")
    network.add_argument("--dropout", type=float, default=0.1, help="dropout (default: 0.1)")
    table_options(pretrain)
    image_options(pretrain, training=True)


def _widths(text: str, option: str) -> tuple[int, ...]:
    from fewlabels.errors import InputError

    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError as err:
        raise InputError(f"{option} takes integers separated by commas; got {text!r}.") \
            from err


def run_active_command(args: argparse.Namespace) -> None:
    """Run `suggest` or `pretrain` and print what it wrote."""
    if args.command == "pretrain":
        _run_pretrain(args)
        return
    from fewlabels.models.body import SUFFIX
    from fewlabels.workflow.suggest import suggest_from_body, suggest_run

    if args.run_dir.endswith(SUFFIX):  # a pretrained body: the first labels
        args.strategy = args.strategy or "typical"
        picks = suggest_from_body(args.run_dir, args.data, args.out, budget=args.budget,
                                  strategy=args.strategy, seed=args.seed, verbose=args.verbose)
    else:
        args.strategy = args.strategy or "diverse-margin"
        picks = suggest_run(args.run_dir, args.data, args.out, budget=args.budget,
                            strategy=args.strategy, seed=args.seed,
                            trust_model=args.trust_model, verbose=args.verbose)
    print(f"Wrote {len(picks.indices)} picks ({args.strategy}) to {args.out}: fill in its "
          f"label column, then: fewlabels fit {args.data} --labels {args.out} ...")


def _run_pretrain(args: argparse.Namespace) -> None:
    from fewlabels.workflow.pretrain import pretrain_run, sidecar

    network = {"architecture": args.architecture, "activation": args.activation,
               "dropout": args.dropout,
               "hidden_units": _widths(args.hidden_units, "--hidden-units"),
               "cnn_widths": _widths(args.cnn_widths, "--cnn-widths")}
    read = {k: getattr(args, k) for k in ("label_column", "delimiter", "header", "encoding",
                                           "image_size", "channels", "unlabeled",
                                           "unlabeled_dir", "on_bad_image",
                                           "stream_unlabeled")}
    record = pretrain_run(args.data, args.out, steps=args.steps, batch_size=args.batch_size,
                          learning_rate=args.learning_rate, temperature=args.temperature,
                          corruption=args.corruption, horizontal_flip=args.horizontal_flip,
                          seed=args.seed, overwrite=args.overwrite, verbose=args.verbose,
                          read=read, network=network)
    print(f"Pretrained the {record['network']} body ({record['objective']}, {record['steps']} "
          f"steps, loss {record['losses'][0]:.3f} -> {record['losses'][-1]:.3f}) on "
          f"{record['items']} items; wrote {args.out} and {sidecar(args.out)}.\n"
          f"Use it: fewlabels fit {args.data} {' '.join(record['fit_options'])} ...")
