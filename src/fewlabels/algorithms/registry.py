"""The algorithm registry: each algorithm class under its `registry_name`.

Adding an algorithm is one module in `fewlabels/algorithms/` with one `Algorithm` subclass
decorated with `@register`. `discover` imports every module of the package, so the new one is
registered with no other edit; its `summary` is its line in `fewlabels methods` and in the
docs table (`methods_table`), and its `conformance` case drives the conformance suite.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import keras

from fewlabels.errors import InputError

_REGISTRY: dict[str, type] = {}
_NOT_ALGORITHMS = {"base", "registry"}


def register(cls: type) -> type:
    """Class decorator: register an `Algorithm` under `cls.registry_name`, and with Keras."""
    name = cls.registry_name
    if not name or name in _REGISTRY:
        raise InputError(f"algorithm name {name!r} is empty or already registered.")
    _REGISTRY[name] = cls
    return keras.saving.register_keras_serializable(package="fewlabels")(cls)


def discover(package: str = "fewlabels.algorithms") -> list[str]:
    """Import every algorithm module of `package` (each registers its own class).

    Args:
        package: a package's dotted name; its modules other than `base`, `registry` and
            tests (and private modules, `_*`) are imported.

    Returns:
        The names of the modules imported.
    """
    path = importlib.import_module(package).__path__
    found = []
    for module in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if (module.name in _NOT_ALGORITHMS or module.name.startswith("_")
                or module.name.endswith("_test")):
            continue
        importlib.import_module(f"{package}.{module.name}")
        found.append(module.name)
    return found


def names() -> list[str]:
    """Registered algorithm names, in registration order."""
    return list(_REGISTRY)


def get(name: str) -> type:
    """The algorithm class registered as `name`."""
    if name not in _REGISTRY:
        raise InputError(f"unknown method {name!r}; registered: {', '.join(_REGISTRY)}.")
    return _REGISTRY[name]


def hyperparameter_names(cls: type) -> set[str]:
    """Every constructor argument `cls` and its bases up to `keras.layers.Layer` take."""
    accepted = set()
    for klass in cls.__mro__:
        if klass is keras.layers.Layer:
            break
        accepted |= {p for p in inspect.signature(klass.__init__).parameters
                     if p not in ("self", "kwargs")}
    return accepted


def check_hyperparameters(name: str, names_given) -> type:
    """The algorithm class registered as `name`, after checking that it takes every one of
    `names_given` (the unknown ones are named in the error)."""
    cls = get(name)
    accepted = hyperparameter_names(cls)
    unknown = sorted(set(names_given) - accepted - set(cls.renamed))
    if unknown:
        raise InputError(
            f"{name} has no hyperparameter(s) {unknown}; it takes {sorted(accepted)}."
        )
    return cls


def create(name: str, **hyperparameters: Any):
    """An algorithm by name, with `hyperparameters` (unknown ones are named in the error)."""
    return check_hyperparameters(name, hyperparameters)(**hyperparameters)


def methods_table() -> str:
    """The docs' table of the registered algorithms: name, what it does, its defaults."""
    rows = ["| `--method` | what it does | defaults |", "|---|---|---|"]
    for name in names():
        cls = get(name)
        defaults = ", ".join(f"{k}={round(v, 3) if isinstance(v, float) else v}"
                             for k, v in cls().hyperparameters().items())
        # an algorithm learning from a teacher's targets is a stage, not a method of its own
        shown = f"`teacher-student`'s students: `{name}`" if cls.needs_targets else f"`{name}`"
        rows.append(f"| {shown} | {cls.summary} | {defaults} |")
    return "\n".join(rows)
