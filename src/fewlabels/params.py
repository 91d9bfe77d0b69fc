"""Parameter checks at the door, declared once per class (scikit-learn's habit).

A class lists `_parameter_constraints = {"name": check, ...}`; `validate_params(obj)` runs every
check and raises an `InputError` that names the parameter and the bad value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from numbers import Integral, Real
from typing import Any

from fewlabels.errors import InputError

Check = Callable[[str, Any], None]


def interval(kind: type, low: float | None, high: float | None, closed: str = "both") -> Check:
    """A number of `kind` (int or float) within bounds; `closed` is both/left/right/neither."""

    def check(name: str, value: Any) -> None:
        numeric = Integral if kind is int else Real
        if isinstance(value, bool) or not isinstance(value, numeric):
            raise InputError(f"{name} must be {'an int' if kind is int else 'a number'}; "
                                 f"got {value!r}.")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{name} must be finite; got {value!r}.")
        lo_ok = low is None or (value >= low if closed in ("both", "left") else value > low)
        hi_ok = high is None or (value <= high if closed in ("both", "right") else value < high)
        if not (lo_ok and hi_ok):
            left = "[" if closed in ("both", "left") else "("
            right = "]" if closed in ("both", "right") else ")"
            lo = "-inf" if low is None else low
            hi = "inf" if high is None else high
            raise InputError(f"{name} must be in {left}{lo}, {hi}{right}; got {value!r}.")

    return check


def one_of(*options: Any) -> Check:
    """One of a fixed set of values."""

    def check(name: str, value: Any) -> None:
        if value not in options:
            raise InputError(f"{name} must be one of {list(options)}; got {value!r}.")

    return check


def boolean(name: str, value: Any) -> None:
    """A bool (not merely truthy)."""
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False; got {value!r}.")


def nonempty_string(name: str, value: Any) -> None:
    """A non-empty string (a name the next layer down resolves, such as an activation)."""
    if not isinstance(value, str) or not value:
        raise InputError(f"{name} must be a non-empty string; got {value!r}.")


def mapping(name: str, value: Any) -> None:
    """A dict with string keys (hyperparameters passed through to a component)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InputError(f"{name} must be a dict of name -> value; got {value!r}.")


def instance_of(kind: type) -> Check:
    """An instance of `kind` (a component passed as a parameter, such as an estimator)."""

    def check(name: str, value: Any) -> None:
        if not isinstance(value, kind):
            raise InputError(f"{name} must be a {kind.__name__}; got {value!r}.")

    return check


def optional(inner: Check) -> Check:
    """None, or a value that passes `inner`."""

    def check(name: str, value: Any) -> None:
        if value is not None:
            inner(name, value)

    return check


def int_sequence(low: int = 1) -> Check:
    """A non-empty sequence of ints, each >= `low` (layer widths, for instance)."""

    def check(name: str, value: Any) -> None:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise InputError(f"{name} must be a sequence of ints; got {value!r}.")
        items = list(value)
        if not items or any(
            isinstance(v, bool) or not isinstance(v, Integral) or v < low for v in items
        ):
            raise InputError(
                f"{name} must be a non-empty sequence of ints >= {low}; got {value!r}."
            )

    return check


def validate_params(obj: Any) -> None:
    """Run every check in `obj._parameter_constraints` against the attribute of that name."""
    for name, check in obj._parameter_constraints.items():
        check(name, getattr(obj, name))
