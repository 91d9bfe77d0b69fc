"""Tests for the table reader: formats it accepts and every bad input it must name."""

import numpy as np
import pytest

from fewlabels.data.table import load_table
from fewlabels.errors import FewLabelsError


def write(tmp_path, text, name="data.csv", mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_whitespace_file_as_loadtxt_reads_it(tmp_path):
    path = write(tmp_path, "1.0 2.0 0\n3.0 4.0 1\n5.0 6.0 -1\n", "data.txt")
    table = load_table(path)
    np.testing.assert_array_equal(table.x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(table.y, [0, 1, -1])
    assert table.classes == [0, 1]
    np.testing.assert_array_equal(table.x, np.loadtxt(path)[:, :-1])


def test_csv_with_header_string_labels_and_every_unlabeled_marker(tmp_path):
    text = "a,b,label\n1,2,cat\n3,4,dog\n5,6,\n7,8,?\n9,10,NaN\n11,12,-1\n13,14,nan\n"
    table = load_table(write(tmp_path, text))
    assert table.feature_names == ["a", "b"]
    assert table.classes == ["cat", "dog"]
    np.testing.assert_array_equal(table.y, [0, 1, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(table.rows, [2, 3, 4, 5, 6, 7, 8])


def test_label_column_by_index_and_by_name(tmp_path):
    path = write(tmp_path, "label,a,b\n1,0.5,0.25\n2,1.5,1.25\n")
    by_index = load_table(path, label_column=0)
    by_name = load_table(path, label_column="label")
    for table in (by_index, by_name):
        assert table.classes == [1, 2]
        np.testing.assert_array_equal(table.x, [[0.5, 0.25], [1.5, 1.25]])


def test_integer_labels_sort_numerically_and_float_spellings_map(tmp_path):
    table = load_table(write(tmp_path, "1,10\n2,2.0\n3,10.0\n4,-1.0\n"))
    assert table.classes == [2, 10]
    np.testing.assert_array_equal(table.y, [1, 0, 1, -1])


def test_known_classes_map_labels_and_refuse_unknown_ones(tmp_path):
    table = load_table(write(tmp_path, "1,b\n2,a\n"), classes=["a", "b"])
    np.testing.assert_array_equal(table.y, [1, 0])
    with pytest.raises(FewLabelsError, match=r"row 2, column 2 .*'c' is not one of the known"):
        load_table(write(tmp_path, "1,b\n2,c\n", "other.csv"), classes=["a", "b"])


def test_n_features_reads_a_file_without_label_column(tmp_path):
    table = load_table(write(tmp_path, "1,2\n3,4\n"), n_features=2)
    np.testing.assert_array_equal(table.y, [-1, -1])
    with pytest.raises(FewLabelsError, match="expects 2 feature columns"):
        load_table(write(tmp_path, "1,2,3,4\n", "wide.csv"), n_features=2)


def test_comments_and_blank_lines_are_skipped_and_rows_keep_file_line_numbers(tmp_path):
    table = load_table(write(tmp_path, "# comment\n\n1 2 0\n\n3 4 1\n"))
    np.testing.assert_array_equal(table.rows, [3, 5])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,0\n3,abc,1\n", r"data.csv: row 2, column 2 \('column_2'\): 'abc' is not a number"),
        ("x,y,label\n1,2,0\n3,nan,1\n", r"row 3, column 2 \('y'\): 'nan' is not a finite"),
        ("1,2,0\ninf,2,1\n", r"row 2, column 1 .*'inf' is not a finite number"),
        ("1,2,0\n1,,1\n", r"row 2, column 2 .*the feature is empty"),
        ("1,2,0\n1,4e38,1\n", r"row 2, column 2 .*'4e38' is too large: features are float32"),
        ("1,2,0\n3,4\n", r"row 2 has 2 columns, but row 1 has 3.*ragged"),
        ("a,a,label\n1,2,0\n", r"row 1, column 2: duplicate header name 'a' \(also column 1\)"),
        ("1,2,0.5\n", r"row 1, column 3 .*label '0.5' is not a class name or an integer"),
        ("\n  \n# only a comment\n", r"data.csv: the file is empty"),
        ("", r"data.csv: the file is empty"),
        ("a,b,label\n", r"header row but no data rows"),
        ("0\n1\n", r"no feature columns"),
    ],
)
def test_bad_input_is_named_by_file_row_and_column(tmp_path, text, message):
    with pytest.raises(FewLabelsError, match=message):
        load_table(write(tmp_path, text))


def test_utf8_bom_is_refused_with_the_fix_and_accepted_with_utf8_sig(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfa,b,label\n1,2,x\n3,4,y\n", mode="wb")
    message = r"row 1, column 1: .*UTF-8 byte-order mark.*utf-8-sig"
    with pytest.raises(FewLabelsError, match=message):
        load_table(path)
    assert load_table(path, encoding="utf-8-sig").feature_names == ["a", "b"]


def test_utf16_bom_is_refused(tmp_path):
    path = write(tmp_path, "a,label\n1,x\n".encode("utf-16"), mode="wb")
    with pytest.raises(FewLabelsError, match="UTF-16"):
        load_table(path)


def test_invalid_utf8_names_the_row(tmp_path):
    path = write(tmp_path, b"1,2,0\n3,4,\xff\n", mode="wb")
    with pytest.raises(FewLabelsError, match=r"row 2: bytes that are not valid utf-8"):
        load_table(path)


def test_missing_file_directory_and_bad_label_column(tmp_path):
    with pytest.raises(FewLabelsError, match="no such file"):
        load_table(tmp_path / "missing.csv")
    with pytest.raises(FewLabelsError, match="is a directory"):
        load_table(tmp_path)
    path = write(tmp_path, "a,b\n1,0\n")
    with pytest.raises(FewLabelsError, match="no column named 'c'"):
        load_table(path, label_column="c")
    with pytest.raises(FewLabelsError, match="label_column=5 is out of range"):
        load_table(path, label_column=5)


def test_explicit_delimiter_and_header_flags(tmp_path):
    path = write(tmp_path, "1;2;0\n3;4;1\n")
    assert load_table(path, delimiter=";").x.shape == (2, 2)
    # With header=True, the first numeric row is taken as names.
    assert load_table(path, header=True).feature_names == ["1", "2"]


def test_a_header_of_numeric_column_names_is_a_header(tmp_path):
    table = load_table(write(tmp_path, "1,2,3,4,y\n1,2,3,4,0\n5,6,7,8,1\n9,9,9,9,-1\n"))
    assert table.feature_names == ["1", "2", "3", "4"] and table.classes == [0, 1]
    assert len(table.x) == 3


def test_integer_labels_beyond_float_precision_stay_distinct(tmp_path):
    table = load_table(write(tmp_path, "1,9007199254740993\n2,9007199254740992\n3,-1\n"))
    assert table.classes == [9007199254740992, 9007199254740993]
    assert table.y.tolist() == [1, 0, -1]


@pytest.mark.parametrize("cell", ["1_000", "\u0661\u0662", "\uff11"])
def test_only_plain_ascii_numbers_are_numbers(tmp_path, cell):
    with pytest.raises(FewLabelsError, match=rf"row 2, column 1 .*{cell!r} is not a number"):
        load_table(write(tmp_path, f"1,0\n{cell},1\n"))


def test_a_cell_too_long_to_split_names_its_row(tmp_path):
    path = write(tmp_path, "1,0\n\"" + "a" * 200_000 + "\",1\n")
    with pytest.raises(FewLabelsError, match="row 2: cannot split it into cells"):
        load_table(path)


def test_a_file_that_cannot_be_read_is_named_with_the_reason(tmp_path):
    with pytest.raises(FewLabelsError, match=r"cannot read it \(File name too long\)"):
        load_table(tmp_path / ("x" * 300 + ".csv"))
