"""The `fewlabels` command line: parse, call `fewlabels.workflow`, print. No logic of its own.

Every `SelfTraining` parameter is an option of `fit` and `demo`; its default comes from the
constructor's signature and its help text from the class docstring, so the two never drift.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from fewlabels import __version__
from fewlabels.errors import FewLabelsError, NonFiniteLossError, TrainingInterruptedError

EXIT_USAGE = 2
EXIT_FAILED = 1
"""Training failed (a NaN or infinite loss)."""
EXIT_TERMINATED = 143
"""Stopped by SIGTERM after writing a checkpoint (128 + 15, as if killed by it)."""
DEMO_SKIP = ("verbose", "model", "augment", "backbone", "weights", "input_size", "unfreeze",
             "unfreeze_learning_rate", "head_units")
"""Estimator options `demo` does not offer: it trains the MLP on digits' feature rows."""


def _param_docs(target) -> dict[str, str]:
    """The `Args:` entries of a Keras-style docstring, as {name: one-line text}."""
    docs: dict[str, str] = {}
    lines = inspect.getdoc(target).split("Args:", 1)[1].splitlines()
    name = None
    for line in lines[1:]:
        if line and not line.startswith(" "):
            break  # the next section (Returns:, Example:, ...)
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            name = match.group(1)
            docs[name] = match.group(2).strip()
        elif name and line.startswith("        "):
            docs[name] += " " + line.strip()
    return {k: v.replace("%", "%%") for k, v in docs.items()}  # argparse formats help with %


def _add_options(parser: argparse.ArgumentParser, target, title: str,
                 skip: Sequence[str] = ()) -> list[str]:
    """Add one option per keyword parameter of `target` (a class or function).

    The default comes from the signature and the help text from the docstring's `Args:`, so
    the CLI and the API never drift apart. Returns the parameter names added.
    """
    docs = _param_docs(target)
    group = parser.add_argument_group(title)
    names = []
    for name, param in inspect.signature(target).parameters.items():
        if name in skip or param.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        default = param.default
        flag = "--" + name.replace("_", "-")
        text = docs.get(name, "")
        if isinstance(default, bool):
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                               default=default, help=text)
        elif isinstance(default, tuple):
            group.add_argument(flag, dest=name, type=_int_list, default=default,
                               metavar="N,N,...", help=f"{text} (default: "
                               f"{','.join(map(str, default))})")
        elif default is None:  # the type comes from the annotation, "int | None" and so on
            kind = {"int": int, "float": float}.get(str(param.annotation).split(" |")[0], str)
            group.add_argument(flag, dest=name, type=kind, default=None, help=f"{text}")
        else:
            group.add_argument(flag, dest=name, type=type(default), default=default,
                               help=f"{text} (default: {default})")
        names.append(name)
    return names


def _estimator_options(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> list[str]:
    """Add one option per `SelfTraining` parameter (for `demo`)."""
    from fewlabels.self_training import SelfTraining

    return _add_options(parser, SelfTraining, "model and self-training options", skip)


def _option_kind(param: inspect.Parameter):
    """The argparse `type` (or bool) of a keyword parameter, from its default or annotation."""
    default = param.default
    if isinstance(default, bool):
        return bool
    if isinstance(default, tuple):
        return _int_list
    if default is None:
        return {"int": int, "float": float}.get(str(param.annotation).split(" |")[0], str)
    return type(default)


def _union_options(parser: argparse.ArgumentParser, title: str, targets: dict[str, Any],
                   skip: Sequence[str] = ()) -> None:
    """One option per keyword parameter of any of `targets` ({label: class}).

    Options default to "not given", so each estimator or algorithm keeps its own default;
    the help text lists the defaults by label.
    """
    group = parser.add_argument_group(title)
    seen: dict[str, dict] = {}
    for label, target in targets.items():
        docs = _param_docs(target)
        for name, param in inspect.signature(target).parameters.items():
            if name in skip or name in ("self", "kwargs"):
                continue
            entry = seen.setdefault(name, {"param": param, "doc": docs.get(name, ""),
                                           "defaults": []})
            default = param.default
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            entry["defaults"].append(f"{label} {shown}")
    for name, entry in seen.items():
        flag = "--" + name.replace("_", "-")
        kind = _option_kind(entry["param"])
        text = f"{entry['doc']} (default: {'; '.join(entry['defaults'])})"
        if kind is bool:
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=text)
        else:
            group.add_argument(flag, dest=name, type=kind, default=argparse.SUPPRESS,
                               metavar="N,N,..." if kind is _int_list else None, help=text)


def _fit_options(parser: argparse.ArgumentParser) -> None:
    """The estimators' options, and every consistency algorithm's hyperparameters."""
    _import_tensorflow_quietly()
    from fewlabels.algorithms import get, names
    from fewlabels.consistency import ConsistencyTraining
    from fewlabels.self_training import SelfTraining

    targets = {"self-training": SelfTraining, "consistency": ConsistencyTraining,
               **{name: get(name) for name in names() if name != "supervised"}}
    _union_options(parser, "model, training and algorithm options (the defaults of each "
                   "method; `fewlabels methods` lists the algorithms)", targets,
                   skip=("verbose", "method", "algorithm_params"))


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def _label_column(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def _delimiter(text: str) -> str | None:
    named = {"auto": None, "comma": ",", "tab": "\t", "\\t": "\t", "semicolon": ";",
             "space": " ", "whitespace": " "}
    if text in named:
        return named[text]
    if len(text) != 1:
        raise argparse.ArgumentTypeError(
            f"a delimiter is one character or one of {sorted(named)}; got {text!r}"
        )
    return text


def _header(text: str) -> bool | str:
    choices = {"auto": "auto", "yes": True, "no": False}
    if text not in choices:
        raise argparse.ArgumentTypeError(f"choose auto, yes or no; got {text!r}")
    return choices[text]


def _table_options(parser: argparse.ArgumentParser, *, label_optional: bool = False) -> None:
    group = parser.add_argument_group("how to read the table")
    group.add_argument(
        "--label-column", type=_label_column, default=-1,
        help="the label column: a 0-based index (negative counts from the end) or a header "
        "name (default: -1, the last column)"
        + ("; a file with exactly the model's feature count has no label column"
           if label_optional else ""),
    )
    group.add_argument("--delimiter", type=_delimiter, default=None,
                       help="cell separator: one character, or auto (default), comma, tab, "
                       "semicolon, space")
    group.add_argument("--header", type=_header, default="auto", metavar="{auto,yes,no}",
                       help="whether the first row is a header (default: auto: a first row "
                       "whose feature cells are all non-numeric)")
    group.add_argument("--encoding", default="utf-8",
                       help="text encoding (default: utf-8, which refuses a byte-order mark; "
                       "utf-8-sig accepts one)")


def _image_options(parser: argparse.ArgumentParser, *, training: bool) -> None:
    group = parser.add_argument_group("how to read images")
    group.add_argument("--on-bad-image", choices=["error", "skip"], default="error",
                       help="folders: a file that fails the pre-scan (corrupt, truncated, "
                       "wrong extension, oversized, outside the data root) stops the run "
                       "with a report (error, default) or is left out with a warning (skip)")
    if not training:
        return
    group.add_argument("--image-size", type=int, default=None, metavar="N",
                       help="folders: resize images to N x N (default: 64)")
    group.add_argument("--channels", type=int, choices=[1, 3], default=None,
                       help="1 gray or 3 RGB (default: RGB for folders, as stored for arrays)")
    group.add_argument("--unlabeled", default="unlabeled", metavar="NAME",
                       help="folders: the subfolder of unlabeled images (default: unlabeled)")
    group.add_argument("--unlabeled-dir", default=None, metavar="DIR",
                       help="a separate folder of unlabeled images")
    group.add_argument("--stream-unlabeled", action="store_true",
                       help="folders, consistency methods: read the unlabeled images from "
                       "disk batch by batch during training instead of decoding them all "
                       "into memory (for unlabeled sets larger than memory)")


def _verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                        help="0 quiet, 1 Keras progress bars (default), 2 one line per epoch")


def build_parser(fit_options: bool = True) -> argparse.ArgumentParser:
    """The argument parser of every subcommand.

    Args:
        fit_options: add `fit`'s model, training and algorithm options. They come from the
            algorithm classes, which import TensorFlow: `main` leaves them out for the other
            commands, so that `fewlabels --help` and input errors stay fast.
    """
    parser = argparse.ArgumentParser(
        prog="fewlabels",
        description="Train good classifiers when only a few examples carry labels.",
    )
    parser.add_argument("--version", action="version", version=f"fewlabels {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = sub.add_parser(
        "fit", help="train on a table or images and write a run directory",
        description="Train on DATA, compare with a supervised-only baseline on held-out test "
        "data, and write RUN_DIR with model.keras, config.json, classes.json, metrics.json "
        "and history.json. DATA is a table (features first, label in the last column; "
        "unlabeled rows marked -1, empty, ? or NaN), a folder with one subfolder per class "
        "and an optional unlabeled/ subfolder, an .npz with x and y (-1 = unlabeled), or a "
        "built-in image dataset: digits, fashion_mnist, mnist.",
    )
    fit.add_argument("data", metavar="DATA",
                     help="the training data: a table, an image folder, an .npz or a built-in "
                     "image dataset name")
    fit.add_argument("--out", required=True, metavar="RUN_DIR", help="the run directory")
    fit.add_argument("--method", default="self-training",
                     help="self-training (default), supervised, or a consistency algorithm: "
                     "pseudo-label, meanteacher, fixmatch, flexmatch, freematch, softmatch "
                     "(`fewlabels methods` lists them with one line each)")
    fit.add_argument("--test", metavar="FILE", default=None,
                     help="a labeled test table; default: hold out --test-fraction of each "
                     "labeled class")
    fit.add_argument("--test-fraction", type=float, default=0.2,
                     help="share of each labeled class held out for testing when --test is "
                     "not given (default: 0.2)")
    fit.add_argument("--labels-per-class", type=int, default=None, metavar="N",
                     help="keep only N labels per class (stratified, seeded, after the test "
                     "split) and hide the rest, to try fewlabels on a fully labeled set; the "
                     "hidden labels only measure pseudo-label accuracy")
    fit.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                     help="also train the supervised-only baseline with the same epoch budget")
    fit.add_argument("--overwrite", action="store_true",
                     help="allow a non-empty RUN_DIR (its run files are replaced)")
    fit.add_argument("--resume", action="store_true",
                     help="continue the unfinished run in RUN_DIR from its newest usable "
                     "checkpoint (after a kill, SIGTERM or crash); refused if the data or "
                     "options changed")
    fit.add_argument("--checkpoint-steps", type=int, default=None, metavar="N",
                     help="also checkpoint every N optimizer steps (default: every epoch end "
                     "and every --checkpoint-seconds)")
    fit.add_argument("--checkpoint-seconds", type=float, default=60.0, metavar="S",
                     help="checkpoint when S seconds passed since the last (default: 60)")
    _verbose(fit)
    _table_options(fit)
    _image_options(fit, training=True)
    if fit_options:
        _fit_options(fit)

    sub.add_parser("methods", help="list the training methods, one line each",
                   description="List every method `fit --method` accepts, with a line on each "
                   "and the consistency algorithms' hyperparameters and defaults.")

    evaluate = sub.add_parser(
        "evaluate", help="evaluate a run's model on a labeled table",
        description="Print loss, accuracy, macro-F1, per-class precision/recall and the "
        "confusion matrix of RUN_DIR's model on DATA, and write them as JSON.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by fit")
    evaluate.add_argument("data", metavar="DATA",
                          help="labeled data: a table, or for an image model a class-per-folder "
                          "directory, an .npz or a built-in dataset (its test split)")
    evaluate.add_argument("--out", metavar="FILE", default=None,
                          help="the metrics JSON (default: RUN_DIR/evaluation.json)")
    _table_options(evaluate)
    _trust_option(evaluate)
    _image_options(evaluate, training=False)

    predict = sub.add_parser(
        "predict", help="predict a table with a run's model and write a CSV",
        description="Write one CSV line per row of DATA: row (line number in DATA), class "
        "(the predicted class name) and p_<class> probabilities.",
    )
    predict.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by fit")
    predict.add_argument("data", metavar="DATA",
                         help="the table to predict (labels optional), or for an image model a "
                         "folder of images (any layout, streamed from disk), an .npz or a "
                         "built-in dataset (its test split)")
    predict.add_argument("--out", required=True, metavar="FILE", help="the CSV to write")
    _table_options(predict, label_optional=True)
    _trust_option(predict)
    _image_options(predict, training=False)

    demo = sub.add_parser(
        "demo", help="supervised vs self-training vs FixMatch on scikit-learn's digits, "
        "5 labels per class",
        description="Run the main job on embedded data: scikit-learn's digits, 5 labels per "
        "class (50 in all), the rest unlabeled, 20%% held out as the test split. Compares "
        "the supervised MLP, self-training, and FixMatch on the digits as 8x8 images; prints "
        "the comparison and writes a run directory.",
    )
    demo.add_argument("--out", default="runs/demo", metavar="RUN_DIR",
                      help="the run directory (default: runs/demo)")
    demo.add_argument("--n-per-class", type=int, default=5,
                      help="labels kept per class (default: 5)")
    demo.add_argument("--fixmatch", action=argparse.BooleanOptionalAction, default=True,
                      help="also train FixMatch on the digits as 8x8 images (about 40 s)")
    demo.add_argument("--overwrite", action="store_true", help="allow a non-empty RUN_DIR")
    _verbose(demo)
    _estimator_options(demo, skip=DEMO_SKIP)
    from fewlabels.augment import POLICIES, build_policy

    preview = sub.add_parser(
        "augment-preview", help="save a grid of original vs augmented images (PNG)",
        description="Save a PNG grid: a row of originals from DATA, then rows of augmented "
        "copies, to check a policy by eye before training with it.",
    )
    preview.add_argument("data", metavar="DATA",
                         help="a built-in dataset (digits, fashion_mnist, mnist), an .npz "
                         "file or an image folder")
    preview.add_argument("--out", required=True, metavar="FILE", help="the PNG to write")
    preview.add_argument("--policy", choices=POLICIES, default="classic",
                         help="the augmentation policy (default: classic)")
    preview.add_argument("--n", type=int, default=8, help="images per row (default: 8)")
    preview.add_argument("--rows", type=int, default=3,
                         help="augmented rows under the originals (default: 3)")
    preview.add_argument("--seed", type=int, default=0,
                         help="chooses the images and seeds the policy (default: 0)")
    _add_options(preview, build_policy, "policy options (classic)",
                 skip=("seed", "value_range"))
    return parser


def _trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-model", action="store_true",
                        help="load a model file that fails fewlabels' safety inspection (a "
                        "Lambda layer, a function from another package, an HDF5 external "
                        "link): model files are code, so only for files you trust")


def _kwargs_for(args: argparse.Namespace, target, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The parsed values of `target`'s keyword-only parameters (those `_add_options` added)."""
    return {name: getattr(args, name)
            for name, param in inspect.signature(target).parameters.items()
            if param.kind is inspect.Parameter.KEYWORD_ONLY and name not in exclude
            and hasattr(args, name)}


def _estimator_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The model, training and algorithm options given (fit: only those the user set)."""
    from fewlabels.self_training import SelfTraining

    if args.command != "fit":
        return _kwargs_for(args, SelfTraining, exclude=("verbose",))
    fixed = {"command", "data", "out", "method", "test", "test_fraction", "labels_per_class",
             "baseline", "overwrite", "resume", "checkpoint_steps", "checkpoint_seconds",
             "verbose", "label_column", "delimiter", "header",
             "encoding", "on_bad_image", "image_size", "channels", "unlabeled",
             "unlabeled_dir", "stream_unlabeled"}
    return {k: v for k, v in vars(args).items() if k not in fixed}


def _print_methods() -> None:
    from fewlabels.algorithms import get
    from fewlabels.workflow import method_names

    lines = {"self-training": "pseudo-labeling rounds: train, label the confident unlabeled "
             "rows, retrain, fine-tune on the labels",
             "supervised": "the labels alone (the baseline every method is compared with)"}
    width = max(map(len, method_names()))
    for name in method_names():
        if name in lines:
            print(f"{name:<{width}}  {lines[name]}")
            continue
        algorithm = get(name)
        print(f"{name:<{width}}  {algorithm.summary}")
        defaults = ", ".join(f"{k}={v}" for k, v in algorithm().hyperparameters().items())
        print(f"{'':<{width}}    {defaults}")


def _print_run(result) -> None:
    from fewlabels import report

    est = result.estimator
    if getattr(est, "rounds_", None):
        print("\nSelf-training rounds")
        print(report.rounds_table(est.rounds_))
        print(f"stopped: {est.termination_condition_} after {est.n_iter_} round(s)")
    print("\nTest results")
    print(result.table)
    if result.results:
        print(f"\nPer class ({result.results[-1]['name']})")
        print(report.per_class_table(result.results[-1]["metrics"]))
    print(f"\nWrote {result.run_dir}/ (model.keras, config.json, classes.json, metrics.json, "
          "history.json)")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 silenced for the duration of the import.

    TensorFlow's C++ runtime prints CUDA probes ("Could not find cuda drivers ...") at import,
    before any log-level setting applies. Only the CLI does this, never the library. A failed
    import still raises its Python exception, after stderr is restored.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _run(args: argparse.Namespace) -> int:
    from fewlabels import workflow

    _import_tensorflow_quietly()

    read = {"label_column": getattr(args, "label_column", -1),
            "delimiter": getattr(args, "delimiter", None),
            "header": getattr(args, "header", "auto"),
            "encoding": getattr(args, "encoding", "utf-8"),
            "on_bad_image": getattr(args, "on_bad_image", "error")}
    if args.command == "fit":
        result = workflow.fit_run(
            args.data, args.out, method=args.method, test=args.test,
            test_fraction=args.test_fraction, labels_per_class=args.labels_per_class,
            baseline=args.baseline, overwrite=args.overwrite, verbose=args.verbose,
            resume=args.resume, checkpoint_steps=args.checkpoint_steps,
            checkpoint_seconds=args.checkpoint_seconds, image_size=args.image_size,
            channels=args.channels, unlabeled=args.unlabeled,
            unlabeled_dir=args.unlabeled_dir, stream_unlabeled=args.stream_unlabeled, **read,
            **_estimator_kwargs(args),
        )
        _print_run(result)
    elif args.command == "demo":
        result = workflow.demo(args.out, n_per_class=args.n_per_class, fixmatch=args.fixmatch,
                               overwrite=args.overwrite, verbose=args.verbose,
                               **_estimator_kwargs(args))
        _print_run(result)
    elif args.command == "evaluate":
        from fewlabels import report

        metrics = workflow.evaluate_run(args.run_dir, args.data, out=args.out,
                                        trust_model=args.trust_model, **read)
        print(f"{args.data}: {metrics['n']} rows, accuracy {metrics['accuracy']:.4f}, "
              f"macro-F1 {metrics['macro_f1']:.4f}, loss {metrics['loss']:.4f}")
        print(report.per_class_table(metrics))
        print(f"\nWrote {args.out or f'{args.run_dir}/evaluation.json'}")
    elif args.command == "augment-preview":
        from fewlabels.augment import build_policy
        from fewlabels.preview import augment_preview

        params = _kwargs_for(args, build_policy, exclude=("seed",))  # --seed is the preview's
        path = augment_preview(args.data, args.out, policy=args.policy, n=args.n,
                               rows=args.rows, seed=args.seed, **params)
        print(f"Wrote {path}")
    elif args.command == "methods":
        _print_methods()
    elif args.command == "predict":
        n = workflow.predict_run(args.run_dir, args.data, args.out,
                                 trust_model=args.trust_model, **read)
        print(f"Wrote {n} predictions to {args.out}")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from fewlabels.errors import FewLabelsWarning

    if issubclass(category, FewLabelsWarning):
        print(f"fewlabels: warning: {message}", file=sys.stderr, flush=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    0 ok, 1 training failed (NaN loss), 2 bad input, 130 Ctrl-C, 143 SIGTERM (a checkpoint
    was written first: rerun with --resume).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(fit_options=bool(argv) and argv[0] == "fit").parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        return _run(args)
    except TrainingInterruptedError as err:
        print(f"fewlabels: {err}", file=sys.stderr)
        return EXIT_TERMINATED
    except NonFiniteLossError as err:
        print(f"fewlabels: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except FewLabelsError as err:
        print(f"fewlabels: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fewlabels: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = _default_showwarning
