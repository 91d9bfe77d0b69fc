"""Property tests: random CSV-like text either parses consistently or raises FewLabelsError."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fewlabels.data.table import load_table
from fewlabels.errors import FewLabelsError

CELL = st.one_of(
    st.integers(-5, 5).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "?", "nan", "NaN", "-1", "inf", "a", "b", "x y", '"q"', "1e3", " 2 "]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=4),
)
SEPARATOR = st.sampled_from([",", "\t", ";", " "])


@st.composite
def csv_like(draw):
    sep = draw(SEPARATOR)
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(CELL, min_size=1, max_size=width + 1), min_size=0, max_size=6))
    text = "\n".join(sep.join(row) for row in rows)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["\ufeff", "# c\n", "\n", ""])) + text
    return text


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_like())
def test_random_text_parses_or_raises_only_fewlabels_error(tmp_path, text):
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    try:
        table = load_table(path)
    except FewLabelsError:
        return
    # Whatever parses is consistent: finite features, labels in range, one row number each.
    assert table.x.ndim == 2 and table.x.shape[1] >= 1
    assert np.all(np.isfinite(table.x))
    assert len(table.y) == len(table.x) == len(table.rows)
    assert np.all((table.y >= -1) & (table.y < max(len(table.classes), 1)))
    assert len(table.feature_names) == table.x.shape[1]


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=2),
                       min_size=1, max_size=8),
       labels=st.lists(st.sampled_from(["0", "1", "2", "-1", "?"]), min_size=8, max_size=8))
def test_well_formed_numeric_tables_round_trip(tmp_path, values, labels):
    path = tmp_path / "ok.csv"
    lines = [f"{a!r},{b!r},{lab}" for (a, b), lab in zip(values, labels, strict=False)]
    path.write_text("\n".join(lines), encoding="utf-8")
    table = load_table(path)
    np.testing.assert_allclose(table.x, np.array(values, dtype=np.float32))
    for y, lab in zip(table.y, labels, strict=False):
        if lab in ("-1", "?"):
            assert y == -1
        else:
            assert table.classes[y] == int(lab)
    assert all(not math.isnan(v) for v in table.x.ravel())
