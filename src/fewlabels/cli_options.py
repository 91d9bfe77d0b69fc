"""How the command line's options are made: from signatures and Keras-style docstrings.

Every estimator and algorithm parameter becomes an option whose default comes from the
constructor's signature and whose help text comes from the class docstring's `Args:`, so the
command line and the Python API never drift apart.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Sequence
from typing import Any


def param_docs(target) -> dict[str, str]:
    """The `Args:` entries of a Keras-style docstring, as {name: one-line text}."""
    from fewlabels.catalog import param_docs as docstring_args

    return docstring_args(inspect.getdoc(target) or "")


def add_options(parser: argparse.ArgumentParser, target, title: str,
                skip: Sequence[str] = ()) -> list[str]:
    """Add one option per keyword parameter of `target` (a class or function), defaulting
    to the parameter's default.

    The default comes from the signature and the help text from the docstring's `Args:`, so
    the CLI and the API never drift apart. Returns the parameter names added.
    """
    return _add_params(parser, title, _signature_params(target), param_docs(target), skip,
                       keep_defaults=True)


def estimator_options(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> list[str]:
    """Add one option per `TableEnsemble` parameter (for `demo`)."""
    from fewlabels.estimators.ensemble import TableEnsemble

    return add_options(parser, TableEnsemble, "table-ensemble options", skip)


def _option_kind(default, annotation: str = ""):
    """The argparse `type` (or bool) of a parameter, from its default or annotation."""
    if isinstance(default, bool):
        return bool
    if isinstance(default, tuple):
        return _str_list if default and isinstance(default[0], str) else _int_list
    if default is None:  # "bool | None": --flag / --no-flag, or neither (the default)
        return {"int": int, "float": float, "bool": bool}.get(
            str(annotation).split(" |")[0], str)
    return type(default)


NOT_OPTIONS = ("verbose", "method", "algorithm_params", "augment_params", "estimator",
               "teacher")
"""Parameters the command line sets otherwise (`--verbose`, `--method`, `--teacher`), or not
at all (a Python object)."""


def add_fit_options(parser: argparse.ArgumentParser, method: str,
                    teacher: str = "fixmatch") -> list[str]:
    """The options of one method: its estimator's, the augmentation policy's (for networks
    on images), and its consistency algorithm's own (for teacher-student, the teacher's).

    Each flag of the parser then has one meaning: `--alpha` is label spreading's clamping
    factor for the table ensemble and MixMatch's Beta for MixMatch, never both at once. The
    algorithms' options come from `fewlabels.catalog`, so no TensorFlow is imported.

    Args:
        parser: `fit`'s parser.
        method: a name from `fewlabels.methods()` (not `"auto"`: resolve it first).
        teacher: teacher-student's consistency algorithm.

    Returns:
        The options' parameter names.
    """
    taken: list[str] = []
    for title, params, docs in method_params(method, teacher):
        taken += _add_params(parser, title, params, docs, skip=taken)
    return taken


def method_params(method: str, teacher: str = "fixmatch") -> list[tuple[str, list, dict]]:
    """`(group title, parameters, their help lines)` of `method`'s options, in order."""
    from fewlabels.catalog import algorithms
    from fewlabels.estimators import method_estimator
    from fewlabels.views.augment import build_policy

    estimator = method_estimator(method)
    params, docs = [], {}
    for klass in estimator.option_classes():  # a recipe's own, then its components'
        own, own_docs = _estimator_params(klass)
        params += [p for p in own if p.name not in NOT_OPTIONS
                   and p.name not in {q.name for q in params}]
        docs = {**own_docs, **docs}
    groups = [(f"{method}: model and training options", params, docs)]
    if any("augment_params" in {*k._get_param_names(), *k.flat_names()}
           for k in estimator.option_classes()):
        groups.append(("augmentation (images)", [
            p for p in _signature_params(build_policy)
            if p.name not in ("name", "seed", "value_range", "background")],
            param_docs(build_policy)))
    algorithm = teacher if method == "teacher-student" else method
    if algorithm in algorithms() and algorithm != "supervised":
        info = algorithms()[algorithm]
        whose = f"the teacher's ({algorithm})" if method == "teacher-student" else algorithm
        groups.append((f"{whose} own options", list(info.params), info.docs))
    return groups


def add_every_method_option(parser: argparse.ArgumentParser, methods: Sequence[str]) -> None:
    """Every method's options at once, without help: for reading which method and data a
    command line names before `fit`'s parser for that method is built."""
    seen: set[str] = set()
    for method in methods:
        for _, params, _ in method_params(method):
            for param in params:
                if param.name in seen:
                    continue
                seen.add(param.name)
                kind = _option_kind(param.default, param.annotation)
                flag = "--" + param.name.replace("_", "-")
                if kind is bool:
                    parser.add_argument(flag, action=argparse.BooleanOptionalAction,
                                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)
                else:
                    parser.add_argument(flag, default=argparse.SUPPRESS,
                                        help=argparse.SUPPRESS)


def _estimator_params(klass) -> tuple[list, dict]:
    """An estimator's options and their help lines: its own parameters, and each setting
    of its specs under its flat name (`--hidden-units` for `model=Network(hidden_units=)`),
    defaulting to the estimator's default spec."""
    from fewlabels.catalog import Param

    flat = klass.flat_names()
    params = [p for p in _signature_params(klass)
              if not (p.name in klass._specs and (p.name in flat or p.default is None))]
    docs = param_docs(klass)
    for name, (param, field) in flat.items():
        spec = klass._specs[param]
        annotation = inspect.signature(type(spec)).parameters[field].annotation
        params.append(Param(name, getattr(spec, field), str(annotation)))
        docs[name] = param_docs(type(spec)).get(field, "")
    return params, docs


def _signature_params(target) -> list:
    """`target`'s keyword parameters as `fewlabels.catalog.Param`s."""
    from fewlabels.catalog import Param

    return [Param(name, p.default, "" if p.annotation is inspect.Parameter.empty else
                  p.annotation if isinstance(p.annotation, str) else str(p.annotation))
            for name, p in inspect.signature(target).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _add_params(parser: argparse.ArgumentParser, title: str, params: list, docs: dict,
                skip: Sequence[str] = (), *, keep_defaults: bool = False) -> list[str]:
    """One option per parameter, in a group of its own. The default is the parameter's,
    shown in the help; it is the option's value with `keep_defaults`, else left to the
    estimator (an option not given is not passed)."""
    group = parser.add_argument_group(title)
    names = []
    for param in params:
        if param.name in skip:
            continue
        flag = "--" + param.name.replace("_", "-")
        kind = _option_kind(param.default, param.annotation)
        default = param.default
        shown = (",".join(map(str, default)) if isinstance(default, tuple) else
                 "auto" if default is None and kind is bool else default)
        text = f"{docs.get(param.name, '')} (default: {shown})".replace("%", "%%")  # argparse
        value = default if keep_defaults else argparse.SUPPRESS
        if kind is bool:
            group.add_argument(flag, dest=param.name, action=argparse.BooleanOptionalAction,
                               default=value, help=text)
        else:
            group.add_argument(flag, dest=param.name, type=kind, default=value,
                               metavar={_int_list: "N,N,...", _str_list: "NAME,NAME,..."}.get(
                                   kind), help=text)
        names.append(param.name)
    return names


def _str_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


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


def table_options(parser: argparse.ArgumentParser, *, label_optional: bool = False) -> None:
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


def image_options(parser: argparse.ArgumentParser, *, training: bool,
                  streaming: bool = True) -> None:
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
    if not streaming:
        return
    group.add_argument("--stream-unlabeled", action="store_true",
                       help="folders and shards, consistency methods and pretrain: read the "
                       "unlabeled images from disk batch by batch during training instead "
                       "of decoding them all into memory (for unlabeled sets larger than "
                       "memory)")


def verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                        help="0 quiet; 1 one short line per epoch, or per self-training stage "
                        "(default); 2 Keras's own line per epoch, with every metric")


def trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-model", action="store_true",
                        help="load a model file that fails fewlabels' safety inspection (a "
                        "Lambda layer, a function from another package, an HDF5 external "
                        "link): model files are code, so only for files you trust")


def strategy_option(parser: argparse.ArgumentParser, doing: str) -> None:
    from fewlabels.training.distribute import STRATEGIES

    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help=f"the devices to {doing}: auto (every GPU of the host when it "
                        "has several, else one device), none, mirrored (every local device), "
                        "multi-worker (the processes TF_CONFIG describes; KERAS_BACKEND=jax)")


def tta_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tta", action="store_true",
                        help="test-time augmentation (images): average each image's "
                        "probabilities with its mirror image's; refused for a model trained "
                        "without horizontal flips")


def kwargs_for(args: argparse.Namespace, target, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The parsed values of `target`'s keyword-only parameters (those `add_options` added)."""
    return {name: getattr(args, name)
            for name, param in inspect.signature(target).parameters.items()
            if param.kind is inspect.Parameter.KEYWORD_ONLY and name not in exclude
            and hasattr(args, name)}


def estimator_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The model, training and algorithm options given (fit: only those the user set)."""
    from fewlabels.estimators.ensemble import TableEnsemble

    if args.command != "fit":
        return kwargs_for(args, TableEnsemble, exclude=("verbose",))
    from fewlabels.workflow.config import RUN_OPTIONS

    fixed = {"command", "config", "out", "overwrite", "resume", *RUN_OPTIONS}
    return {k: v for k, v in vars(args).items() if k not in fixed}


def import_tensorflow_quietly() -> None:
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
