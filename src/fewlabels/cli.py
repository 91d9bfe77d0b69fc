"""The `fewlabels` command line: parse, call `fewlabels.workflow`, print. No logic of its own.

Every estimator parameter is an option of `fit` (and every `TableEnsemble` parameter one of
`demo`); its default comes from the constructor's signature and its help text from the class
docstring, so the two never drift.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from fewlabels import __version__
from fewlabels.cli_active import ACTIVE_COMMANDS, active_parsers, run_active_command
from fewlabels.cli_options import (
    add_every_method_option,
    add_fit_options,
    add_options,
    estimator_kwargs,
    estimator_options,
    image_options,
    import_tensorflow_quietly,
    kwargs_for,
    strategy_option,
    table_options,
    trust_option,
    tta_option,
    verbose_option,
)
from fewlabels.cli_scale import SCALE_COMMANDS, run_scale_command, scale_parsers
from fewlabels.errors import (
    EXIT_CTRL_C,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_STORAGE,
    FewLabelsError,
    InputError,
    TrainingInterruptedError,
)

DEMO_SKIP = ("verbose",)
"""Estimator options `demo` does not offer (its verbosity is `--verbose`'s)."""


def build_parser(fit_method: str | None = None, fit_defaults: dict | None = None,
                 teacher: str = "fixmatch") -> argparse.ArgumentParser:
    """The argument parser of every subcommand.

    Args:
        fit_method: the method whose model, training and algorithm options `fit` takes
            (`fit_method_for` reads it from the command line); None: the options every
            method shares only, as `fit --help` shows them without a method or data.
        fit_defaults: option values of `fit --config FILE`, which the command line overrides.
        teacher: teacher-student's algorithm, whose options `fit` then takes.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="fewlabels",
        description="Train good classifiers when only a few examples carry labels.",
        epilog="exit codes: 0 ok, 2 bad input, 3 non-finite loss, 4 disk or file failure, "
        "130 Ctrl-C, 143 stopped by SIGTERM after a checkpoint (rerun with --resume), "
        "1 unexpected error",
    )
    parser.add_argument("--version", action="version", version=f"fewlabels {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _fit_parser(sub, fit_method, fit_defaults or {}, teacher=teacher)
    _methods_parser(sub)
    _evaluate_parser(sub)
    _predict_parser(sub)
    scale_parsers(sub)
    active_parsers(sub)
    _demo_parser(sub)
    _preview_parser(sub)
    _export_parser(sub)
    report = sub.add_parser("report", help="write RUN_DIR/report.html (fit writes it too)",
                            description="Write a self-contained HTML report of a run: results "
                            "beside the baseline, learning curves, confusion matrices, "
                            "per-class precision and recall, reliability.")
    report.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by fit")
    return parser


def _method_help() -> str:
    """`--method`'s help: every method (from the catalog: no TensorFlow is imported)."""
    from fewlabels.catalog import method_names

    return ("auto (default: table-ensemble for a table, teacher-student for images, "
            "softmatch with --stream-unlabeled, self-training with --backbone), "
            "table-ensemble, self-training, supervised, teacher-student, or a consistency "
            f"algorithm: {', '.join(method_names())} (`fewlabels methods` lists them with one "
            "line each). A method's own options: fewlabels fit --method NAME --help, or "
            "fewlabels fit DATA --help for the one auto picks")


def fit_method_for(argv: list[str], defaults: dict) -> tuple[str | None, str]:
    """The method a `fit` command line trains, `"auto"` resolved for its data, and the
    teacher's algorithm: what `fit`'s parser needs to take that method's options (the
    method is None when neither it nor the data is named: `fit --help`).

    The command line is read once with every method's options known (so that an option's
    value is never taken for DATA), and nothing is imported that imports TensorFlow.
    """
    from fewlabels.data.sources import is_image_source
    from fewlabels.workflow.experiment import AUTO, default_method, methods

    reader = argparse.ArgumentParser(prog="fewlabels", add_help=False)
    _fit_parser(reader.add_subparsers(dest="command"), None, {}, reading=True)
    args, _ = reader.parse_known_args(argv)
    method = args.method if args.method is not None else defaults.get("method", AUTO)
    data = args.data if args.data is not None else defaults.get("data")
    teacher = getattr(args, "teacher", defaults.get("teacher", "fixmatch"))
    if method == AUTO:
        if data is None:
            return None, teacher
        backbone = getattr(args, "backbone", defaults.get("backbone"))
        method = default_method(is_image_source(data), transfer=backbone is not None,
                                streamed=args.stream_unlabeled or bool(
                                    defaults.get("stream_unlabeled")))
    if method not in methods():
        raise InputError(f"method must be one of {[AUTO, *methods()]}; got {method!r}.")
    return method, teacher


def _fit_parser(sub, method: str | None, defaults: dict, *, reading: bool = False,
                teacher: str = "fixmatch"):
    """`fit`'s parser, with `method`'s options; `reading`: every method's, without help,
    for `fit_method_for`."""
    fit = sub.add_parser(
        "fit", help="train on a table or images and write a run directory",
        description="Train on DATA, compare with a supervised-only baseline on held-out test "
        "data, and write RUN_DIR with model.keras, config.json, classes.json, metrics.json "
        "and history.json. DATA is a table (features first, label in the last column; "
        "unlabeled rows marked -1, empty, ? or NaN), a folder with one subfolder per class "
        "and an optional unlabeled/ subfolder, an .npz with x and y (-1 = unlabeled), or a "
        "built-in image dataset: digits, fashion_mnist, mnist.", add_help=not reading,
    )
    fit.add_argument("data", metavar="DATA", nargs="?", default=None,
                     help="the training data: a table, an image folder, an .npz or a built-in "
                     "image dataset name (or 'data' in --config)")
    fit.add_argument("--config", metavar="FILE", default=None,
                     help="read options from a TOML file or a run's config.json (to "
                     "reproduce that run); options given here override it")
    fit.add_argument("--out", required=not reading, metavar="RUN_DIR",
                     help="the run directory")
    fit.add_argument("--method", default=None if reading else "auto",
                     help="" if reading else _method_help())
    fit.add_argument("--teacher", default=argparse.SUPPRESS, metavar="ALGORITHM",
                     help="teacher-student: the teacher's consistency algorithm (default: "
                     "fixmatch)")
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
    fit.add_argument("--tensorboard", metavar="DIR", default=None,
                     help="also write every per-epoch metric as TensorBoard logs in DIR "
                     "(view them with: tensorboard --logdir DIR)")
    strategy_option(fit, "train on")
    fit.add_argument("--labels", metavar="FILE", action="append", default=None,
                     help="an annotator's labels to merge into DATA first (repeatable): a CSV "
                     "with a row, path or index column and a label column, as fewlabels "
                     "suggest writes it "
                     "(checked: every item must exist, every label be a class, no item "
                     "labelled twice differently or against DATA's own label)")
    fit.add_argument("--checkpoint-seconds", type=float, default=60.0, metavar="S",
                     help="checkpoint when S seconds passed since the last (default: 60)")
    verbose_option(fit)
    table_options(fit)
    image_options(fit, training=True)
    if reading:
        from fewlabels.workflow.experiment import methods

        add_every_method_option(fit, methods())
        return fit
    if method is not None:
        add_fit_options(fit, method, teacher)
    unknown = sorted(set(defaults) - {a.dest for a in fit._actions})
    if unknown:
        whose = f"options of {method}" if method else "fit options"
        raise InputError(f"the configuration sets {unknown}, which are not {whose} "
                         "(fewlabels fit --method NAME --help lists a method's).")
    actions = {a.dest: a for a in fit._actions}
    fit.set_defaults(**{k: _config_value(actions[k], v) for k, v in defaults.items()
                        if v is not None})  # (a run's config.json records unset as null)


@contextlib.contextmanager
def _sigterm_exits_143():
    """SIGTERM ends the command with exit code 143, whenever it comes. During training the
    recorder takes it (a checkpoint, then a stop); outside training, or a second one while a
    stop is under way, it lands here: the first raises `TrainingInterruptedError`, later
    ones are ignored, up to the process's exit, so the exit code stays 143 and never the
    bare signal's -15."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    stopping: list = []

    def on_sigterm(signum, frame) -> None:
        if not stopping:
            stopping.append(True)
            raise TrainingInterruptedError("stopped by SIGTERM (no training step was "
                                           "interrupted: run the command again).")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield stopping
    finally:  # stopping: the process is on its way out (TensorFlow's exit takes a moment)
        signal.signal(signal.SIGTERM, signal.SIG_IGN if stopping else previous)


def _config_value(action: argparse.Action, value):
    """A configuration file's value for an option, typed as the command line would type it,
    or an `InputError` naming the option and the value."""
    name = f"the configuration's {action.dest!r}"
    if action.nargs == 0:  # a flag: --x, or --x / --no-x
        if not isinstance(value, bool):
            raise InputError(f"{name} must be true or false; got {value!r}.")
        return value
    many = action.nargs in ("+", "*") or isinstance(action.nargs, int)
    parses_text = action.type not in (None, int, float, str)  # such as "64,64" for a list
    if parses_text and isinstance(value, list | int | float) and not isinstance(value, bool):
        value = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if many != isinstance(value, list) or isinstance(value, dict):
        shape = "a list" if many else "one value"
        raise InputError(f"{name} must be {shape}; got {value!r}.")
    convert = action.type or str
    try:
        typed = [_typed(convert, v) for v in value] if many else _typed(convert, value)
    except (TypeError, ValueError, AttributeError, argparse.ArgumentTypeError) as err:
        raise InputError(f"{name}: {value!r} is not {_kind(convert)} ({err}).") from None
    for item in typed if many else [typed]:
        if action.choices is not None and item not in action.choices:
            raise InputError(f"{name} must be one of {list(action.choices)}; got {item!r}.")
    return typed


def _typed(convert, value):
    """`value` as the option's type: text stays text, numbers stay numbers (`data = 42` is
    refused, not read as the path "42")."""
    if isinstance(value, bool | list | dict):
        raise TypeError(f"a {type(value).__name__}")
    if convert is str and not isinstance(value, str):
        raise TypeError(f"a {type(value).__name__}, not text")
    if convert is int and isinstance(value, float) and not value.is_integer():
        raise ValueError("it has a fraction")
    return convert(value)


def _kind(convert) -> str:
    return {int: "a whole number", float: "a number", str: "text"}.get(convert, "valid")


def _methods_parser(sub) -> None:
    sub.add_parser("methods", help="list the training methods, one line each",
                   description="List every method `fit --method` accepts, with a line on each "
                   "and the consistency algorithms' hyperparameters and defaults.")


def _evaluate_parser(sub) -> None:
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
    table_options(evaluate)
    trust_option(evaluate)
    tta_option(evaluate)
    image_options(evaluate, training=False)


def _predict_parser(sub) -> None:
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
    predict.add_argument("--verbose", type=int, choices=[0, 1], default=1,
                         help="1 progress bars while a large image folder is checked and "
                         "predicted (default); 0 none")
    strategy_option(predict, "predict on")
    table_options(predict, label_optional=True)
    trust_option(predict)
    tta_option(predict)
    predict.add_argument("--unknown", nargs="?", type=float, const=True, default=False,
                         metavar="THRESHOLD",
                         help="write 'unknown' as the class of an item whose largest class "
                         "probability is below THRESHOLD (0 to 1); without a number, the "
                         "run's own score and threshold (the energy of a network's logits, "
                         "the largest probability for the table ensemble), set on its test "
                         "rows so that 95%% of items of known classes stay above it")
    image_options(predict, training=False)


def _demo_parser(sub) -> None:
    demo = sub.add_parser(
        "demo", help="the table ensemble vs self-training vs FixMatch on scikit-learn's "
        "digits, 5 labels per class",
        description="Run the main job on embedded data: scikit-learn's digits, 5 labels per "
        "class (50 in all), the rest unlabeled, 20%% held out as the test split. Compares "
        "the default for tables (the table ensemble) with its members on the labels alone, "
        "self-training with the supervised MLP, and FixMatch on the digits as 8x8 images; "
        "prints the comparison and writes a run directory.",
    )
    demo.add_argument("--out", default="runs/demo", metavar="RUN_DIR",
                      help="the run directory (default: runs/demo)")
    demo.add_argument("--n-per-class", type=int, default=5,
                      help="labels kept per class (default: 5)")
    demo.add_argument("--self-training", action=argparse.BooleanOptionalAction, default=True,
                      help="also self-train the MLP on the rows, beside the supervised MLP "
                      "(about 40 s)")
    demo.add_argument("--fixmatch", action=argparse.BooleanOptionalAction, default=True,
                      help="also train FixMatch on the digits as 8x8 images (about 40 s)")
    demo.add_argument("--overwrite", action="store_true", help="allow a non-empty RUN_DIR")
    verbose_option(demo)
    estimator_options(demo, skip=DEMO_SKIP)


def _export_parser(sub) -> None:
    export = sub.add_parser(
        "export", help="export a run's model as a TensorFlow SavedModel, TFLite or ONNX file",
        description="Write RUN_DIR's model, preprocessing included, as a SavedModel folder "
        "(signature 'serve'), a .tflite file or an .onnx file (pip install "
        "'fewlabels[onnx]'), with its class list beside it.",
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by fit")
    export.add_argument("--format", choices=["savedmodel", "tflite", "onnx"],
                        default="savedmodel", help="savedmodel (default), tflite or onnx")
    export.add_argument("--out", default=None, metavar="PATH",
                        help="where to write (default: RUN_DIR/saved_model/, "
                        "RUN_DIR/model.tflite or RUN_DIR/model.onnx)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace what is at the output path (never through a link)")
    trust_option(export)


def _preview_parser(sub) -> None:
    from fewlabels.views.augment import POLICIES, build_policy

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
    add_options(preview, build_policy, "policy options (classic)",
                 skip=("seed", "value_range"))


def _print_methods() -> None:
    from fewlabels.estimators import method_estimator
    from fewlabels.workflow import methods

    width = max(map(len, methods()))
    for name in methods():
        summary, *details = method_estimator(name).describe(name)
        print(f"{name:<{width}}  {summary}")
        for line in details:
            print(f"{'':<{width}}    {line}")


def _print_run(result) -> None:
    from fewlabels import report

    if not result.written:  # the chief prints the results
        print(f"Trained as a worker of the cluster; its chief writes {result.run_dir}/")
        return
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
    from fewlabels.workflow.open_set import summary

    pool = summary(result.open_set)
    if pool:
        print(f"\nOpen set: {pool}")
    print(f"\nWrote {result.run_dir}/ (model.keras, config.json, classes.json, metrics.json, "
          "history.json, report.html)")


def _run(args: argparse.Namespace) -> int:
    if args.command == "methods":  # the catalog: no TensorFlow
        _print_methods()
        return EXIT_OK
    from fewlabels import workflow

    import_tensorflow_quietly()

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
            unlabeled_dir=args.unlabeled_dir, stream_unlabeled=args.stream_unlabeled,
            tensorboard=args.tensorboard, strategy=args.strategy, labels=args.labels, **read,
            **estimator_kwargs(args),
        )
        _print_run(result)
    elif args.command == "demo":
        result = workflow.demo(args.out, n_per_class=args.n_per_class,
                               self_training=args.self_training, fixmatch=args.fixmatch,
                               overwrite=args.overwrite, verbose=args.verbose,
                               **estimator_kwargs(args))
        _print_run(result)
    elif args.command == "evaluate":
        from fewlabels import report

        metrics = workflow.evaluate_run(args.run_dir, args.data, out=args.out,
                                        trust_model=args.trust_model, tta=args.tta, **read)
        print(f"{args.data}: {metrics['n']} rows, accuracy {metrics['accuracy']:.4f}, "
              f"macro-F1 {metrics['macro_f1']:.4f}, loss {metrics['loss']:.4f}")
        print(report.per_class_table(metrics))
        print(f"\nWrote {args.out or f'{args.run_dir}/evaluation.json'}")
    elif args.command == "augment-preview":
        from fewlabels.views.augment import build_policy
        from fewlabels.views.preview import augment_preview

        params = kwargs_for(args, build_policy, exclude=("seed",))  # --seed is the preview's
        path = augment_preview(args.data, args.out, policy=args.policy, n=args.n,
                               rows=args.rows, seed=args.seed, **params)
        print(f"Wrote {path}")
    elif args.command == "report":
        print(f"Wrote {workflow.write_report(args.run_dir)}")
    elif args.command == "export":
        path = workflow.export_run(args.run_dir, format=args.format, out=args.out,
                                   trust_model=args.trust_model, overwrite=args.overwrite)
        print(f"Wrote {path}")
    elif args.command in SCALE_COMMANDS:
        run_scale_command(args)
    elif args.command in ACTIVE_COMMANDS:
        run_active_command(args)
    elif args.command == "predict":
        n = workflow.predict_run(args.run_dir, args.data, args.out,
                                 trust_model=args.trust_model, verbose=args.verbose,
                                 tta=args.tta, strategy=args.strategy, unknown=args.unknown,
                                 **read)
        from fewlabels.training.distribute import is_chief

        print(f"Wrote {n} predictions to {args.out}" if is_chief() else
              f"Predicted {n} rows as a worker of the cluster; its chief writes {args.out}")
    return 0


def _config_defaults(argv: list[str]) -> dict:
    """The options `fit --config FILE` sets, read before the command line is parsed."""
    from fewlabels.workflow.config import read_run_config

    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return read_run_config(argv[i + 1])
        if arg.startswith("--config="):
            return read_run_config(arg.split("=", 1)[1])
    return {}


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from fewlabels.errors import FewLabelsWarning

    if issubclass(category, FewLabelsWarning):
        print(f"fewlabels: warning: {message}", file=sys.stderr, flush=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def backend_problem() -> str | None:
    """What is wrong with the Keras backend `KERAS_BACKEND` names, if anything: unknown,
    or not installed (checked without importing it)."""
    import importlib.util

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend not in BACKEND_PACKAGES:
        return (f"KERAS_BACKEND={backend!r} is not a Keras backend fewlabels runs on; use "
                "tensorflow (the default) or jax.")
    if importlib.util.find_spec(BACKEND_PACKAGES[backend]) is None:
        extra = {"jax": " (pip install 'fewlabels[jax]')", "torch": ""}.get(backend, "")
        return (f"KERAS_BACKEND={backend} but {BACKEND_PACKAGES[backend]} is not installed"
                f"{extra}.")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (`fewlabels.errors` lists them).

    0 ok, 2 bad input, 3 non-finite loss, 4 a file or disk failure, 130 Ctrl-C, 143 SIGTERM
    (a checkpoint was written first: rerun with --resume), 1 an unexpected error.
    """
    # TensorFlow's C++ runtime logs harmless chatter (CUDA probes on CPU-only machines); the
    # command line keeps stderr for its own messages. `setdefault` keeps the user's choice.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    problem = backend_problem()
    if problem:
        print(f"fewlabels: error: {problem}", file=sys.stderr)
        return EXIT_INPUT
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _show_warning
    with _sigterm_exits_143() as stopping:
        return _main(argv, stopping)


def _main(argv: list[str], stopping: list) -> int:
    """`main` once SIGTERM is handled: parse, run, and turn errors into exit codes."""
    try:
        fitting = bool(argv) and argv[0] == "fit"
        defaults = _config_defaults(argv) if fitting else {}
        method, teacher = fit_method_for(argv, defaults) if fitting else (None, "fixmatch")
        parser = build_parser(fit_method=method, fit_defaults=defaults, teacher=teacher)
        args = parser.parse_args(argv)
        if args.command == "fit" and args.data is None:
            parser.error("fit needs DATA (or 'data' in its --config file)")
        return _run(args)
    except TrainingInterruptedError as err:
        stopping.append(True)  # a SIGTERM from here on is ignored: the stop is under way
        while isinstance(err.__context__, TrainingInterruptedError):
            err = err.__context__  # a second SIGTERM during the stop: the first one's news
        print(f"fewlabels: {err}", file=sys.stderr)
        return err.exit_code
    except FewLabelsError as err:
        print(f"fewlabels: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # a file or disk failure the library did not name itself
        where = f"{err.filename}: " if err.filename else ""
        print(f"fewlabels: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_STORAGE
    except KeyboardInterrupt:
        print("fewlabels: interrupted", file=sys.stderr)
        return EXIT_CTRL_C
