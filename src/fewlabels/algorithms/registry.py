"""The algorithm registry: a name for each algorithm class, one line per algorithm.

Adding an algorithm is one module with one class, one `@register` on it, one import in
`fewlabels/algorithms/__init__.py`, and one docs section; the conformance suite
(`fewlabels.testing.conformance`) then runs against it automatically.
"""

from __future__ import annotations

from typing import Any

import keras

from fewlabels.errors import FewLabelsError

_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: register an `Algorithm` under `cls.name_`, and with Keras."""
    name = cls.name_
    if not name or name in _REGISTRY:
        raise FewLabelsError(f"algorithm name {name!r} is empty or already registered.")
    _REGISTRY[name] = cls
    return keras.saving.register_keras_serializable(package="fewlabels")(cls)


def names() -> list[str]:
    """Registered algorithm names, in registration order."""
    return list(_REGISTRY)


def get(name: str) -> type:
    """The algorithm class registered as `name`."""
    if name not in _REGISTRY:
        raise FewLabelsError(f"unknown method {name!r}; registered: {', '.join(_REGISTRY)}.")
    return _REGISTRY[name]


def create(name: str, **hyperparameters: Any):
    """An algorithm by name, with `hyperparameters` (unknown ones are named in the error)."""
    import inspect

    cls = get(name)
    accepted = set()
    for klass in cls.__mro__:
        if klass is keras.layers.Layer:
            break
        accepted |= {p for p in inspect.signature(klass.__init__).parameters
                     if p not in ("self", "kwargs")}
    unknown = sorted(set(hyperparameters) - accepted)
    if unknown:
        raise FewLabelsError(
            f"{name} has no hyperparameter(s) {unknown}; it takes {sorted(accepted)}."
        )
    return cls(**hyperparameters)
