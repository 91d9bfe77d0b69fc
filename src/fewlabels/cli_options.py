"""How the command line's options are made: from signatures and Keras-style docstrings.

Every estimator and algorithm parameter becomes an option whose default comes from the
constructor's signature and whose help text comes from the class docstring's `Args:`, so the
command line and the Python API never drift apart.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
from collections.abc import Sequence
from typing import Any


def param_docs(target) -> dict[str, str]:
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


def add_options(parser: argparse.ArgumentParser, target, title: str,
                 skip: Sequence[str] = ()) -> list[str]:
    """Add one option per keyword parameter of `target` (a class or function).

    The default comes from the signature and the help text from the docstring's `Args:`, so
    the CLI and the API never drift apart. Returns the parameter names added.
    """
    docs = param_docs(target)
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
            kind = _option_kind(param)
            group.add_argument(flag, dest=name, type=kind, default=default,
                               metavar="N,N,..." if kind is _int_list else "NAME,NAME,...",
                               help=f"{text} (default: "
                               f"{','.join(map(str, default))})")
        elif default is None:  # the type comes from the annotation, "int | None" and so on
            kind = {"int": int, "float": float}.get(str(param.annotation).split(" |")[0], str)
            group.add_argument(flag, dest=name, type=kind, default=None, help=f"{text}")
        else:
            group.add_argument(flag, dest=name, type=type(default), default=default,
                               help=f"{text} (default: {default})")
        names.append(name)
    return names


def estimator_options(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> list[str]:
    """Add one option per `TableEnsemble` parameter (for `demo`)."""
    from fewlabels.estimators.ensemble import TableEnsemble

    return add_options(parser, TableEnsemble, "table-ensemble options", skip)


def _option_kind(param: inspect.Parameter):
    """The argparse `type` (or bool) of a keyword parameter, from its default or annotation."""
    default = param.default
    if isinstance(default, bool):
        return bool
    if isinstance(default, tuple):
        return _str_list if default and isinstance(default[0], str) else _int_list
    if default is None:  # "bool | None": --flag / --no-flag, or neither (the default)
        return {"int": int, "float": float, "bool": bool}.get(
            str(param.annotation).split(" |")[0], str)
    return type(default)


def _union_options(parser: argparse.ArgumentParser, title: str, targets: dict[str, Any],
                   skip: Sequence[str] = (),
                   skip_for: dict[str, Sequence[str]] | None = None) -> None:
    """One option per keyword parameter of any of `targets` ({label: class}).

    Options default to "not given", so each estimator or algorithm keeps its own default;
    the help text lists the defaults by label.
    """
    group = parser.add_argument_group(title)
    seen: dict[str, dict] = {}
    for label, target in targets.items():
        docs = param_docs(target)
        own_skip = (skip_for or {}).get(label, ())
        for name, param in inspect.signature(target).parameters.items():
            if name in skip or name in own_skip or name in ("self", "kwargs", "params"):
                continue
            entry = seen.setdefault(name, {"param": param, "doc": docs.get(name, ""),
                                           "defaults": []})
            default = param.default
            shown = (",".join(map(str, default)) if isinstance(default, tuple) else
                     "auto" if default is None and _option_kind(param) is bool else default)
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
                               metavar={_int_list: "N,N,...", _str_list: "NAME,NAME,..."}.get(
                                   kind), help=text)


def add_fit_options(parser: argparse.ArgumentParser) -> None:
    """The estimators' options, and every consistency algorithm's hyperparameters."""
    import_tensorflow_quietly()
    from fewlabels.algorithms import get, names
    from fewlabels.estimators.consistency import ConsistencyTraining
    from fewlabels.estimators.ensemble import TableEnsemble
    from fewlabels.estimators.self_training import SelfTraining
    from fewlabels.estimators.teacher_student import TeacherStudent
    from fewlabels.views.augment import build_policy

    targets = {"table-ensemble": TableEnsemble, "self-training": SelfTraining,
               "consistency": ConsistencyTraining, "teacher-student": TeacherStudent,
               **{name: get(name) for name in names()
                  if name != "supervised" and not get(name).needs_targets},
               "augmentation": build_policy}
    _union_options(parser, "model, training, augmentation and algorithm options (the "
                   "defaults of each method; `fewlabels methods` lists the algorithms)",
                   targets, skip=("verbose", "method", "algorithm_params", "augment_params",
                         "estimator"),
                   skip_for={"augmentation": ("name", "seed", "value_range", "background")})


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


def image_options(parser: argparse.ArgumentParser, *, training: bool) -> None:
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


def verbose_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                        help="0 quiet; 1 one short line per epoch, or per self-training stage "
                        "(default); 2 Keras's own line per epoch, with every metric")


def trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-model", action="store_true",
                        help="load a model file that fails fewlabels' safety inspection (a "
                        "Lambda layer, a function from another package, an HDF5 external "
                        "link): model files are code, so only for files you trust")


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
