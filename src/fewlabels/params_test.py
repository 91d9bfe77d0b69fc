"""Tests for the parameter checks: each names the parameter and the bad value."""

import pytest

from fewlabels import params as p
from fewlabels.errors import FewLabelsError


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (p.interval(float, 0.0, 1.0), 1.5, r"x must be in \[0.0, 1.0\]; got 1.5"),
        (p.interval(float, 0.0, None, "neither"), 0.0, r"x must be in \(0.0, inf\); got 0.0"),
        (p.interval(int, 1, None), 2.5, "x must be an int; got 2.5"),
        (p.interval(int, 1, None), True, "x must be an int; got True"),
        (p.interval(float, 0.0, 1.0), float("nan"), "x must be finite; got nan"),
        (p.one_of("a", "b"), "c", r"x must be one of \['a', 'b'\]; got 'c'"),
        (p.boolean, 1, "x must be True or False; got 1"),
        (p.int_sequence(1), [64, 0], r"non-empty sequence of ints >= 1; got \[64, 0\]"),
        (p.int_sequence(1), "64", "must be a sequence of ints"),
        (p.nonempty_string, "", "non-empty string"),
    ],
)
def test_checks_name_the_parameter_and_value(check, value, message):
    with pytest.raises(FewLabelsError, match=message):
        check("x", value)


def test_good_values_pass():
    p.interval(float, 0.0, 1.0)("x", 0.5)
    p.interval(int, 1, None)("x", 3)
    p.optional(p.interval(float, 0.0, 1.0))("x", None)
    p.int_sequence(1)("x", (64, 64))
