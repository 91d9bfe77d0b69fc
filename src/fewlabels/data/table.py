"""Read a table of features and (partly missing) labels from a text file.

The format is what `numpy.loadtxt` reads, plus CSV with or without a header row:

- cells are separated by commas, tabs, semicolons or runs of white space (auto-detected from
  the first data line, or given as `delimiter=`);
- one row per sample; blank lines and lines starting with `#` are skipped;
- features are numbers; the label sits in the last column unless `label_column=` says otherwise;
- a row is unlabeled when its label cell is `-1`, empty, `?` or `NaN` (any case).

Every problem is reported as an `InputError` naming the file, the 1-based line number in the
file ("row") and the 1-based column, before anything is trained or written.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fewlabels.errors import InputError

FLOAT32_MAX = float(np.finfo(np.float32).max)

UNLABELED_MARKERS = ("-1", "", "?", "nan")
"""Label cells that mark a row as unlabeled (compared after stripping, case-insensitively)."""

_BOMS = {
    b"\xef\xbb\xbf": "UTF-8",
    b"\xff\xfe": "UTF-16 (little-endian)",
    b"\xfe\xff": "UTF-16 (big-endian)",
}


@dataclasses.dataclass(frozen=True)
class Table:
    """Features, labels and class list read from a file.

    Attributes:
        x: float32 array of shape `(n_rows, n_features)`.
        y: int64 array of shape `(n_rows,)`: an index into `classes`, or -1 for unlabeled rows.
        classes: the class values (ints or strings), in index order.
        feature_names: one name per feature column (from the header, else `column_<k>`).
        rows: the 1-based line number in the file of each row, for messages and outputs.
        path: the file the table came from.
    """

    x: np.ndarray
    y: np.ndarray
    classes: list
    feature_names: list[str]
    rows: np.ndarray
    path: str

    @property
    def n_labeled(self) -> int:
        """The number of labeled rows."""
        return int(np.sum(self.y >= 0))


def load_table(
    path: str | os.PathLike,
    *,
    label_column: int | str | None = -1,
    delimiter: str | None = None,
    header: bool | str = "auto",
    classes: Sequence | None = None,
    n_features: int | None = None,
    encoding: str = "utf-8",
) -> Table:
    """Read features and labels from a text file, validating every cell.

    Args:
        path: the text file.
        label_column: the label column, as a 0-based index (negative counts from the end) or a
            header name; `None` when the file has no label column.
        delimiter: the cell separator; `None` detects comma, tab, semicolon or white space
            from the first data line.
        header: `True`, `False` or `"auto"` (a first row whose feature cells are all
            non-numeric is a header).
        classes: a known class list (for example a trained model's). Labels are mapped onto
            it, and a label outside it is an error. `None` builds the list from the labels:
            integers sorted numerically, otherwise strings sorted.
        n_features: the number of features a model expects. When given, a file with exactly
            that many columns is read as having no label column.
        encoding: the text encoding. A byte-order mark is refused under `"utf-8"`; pass
            `"utf-8-sig"` to accept one.

    Returns:
        A `Table`. Raises `InputError` naming the file, row and column of the first bad cell.

    Example:
    ```python
    table = load_table("data.csv")
    table.x.shape, table.n_labeled, table.classes
    ```
    """
    path = Path(path)
    where = str(path)
    lines = _read_lines(path, encoding)
    if delimiter is None:
        delimiter = _sniff_delimiter(lines[0][1])
    records = _records(lines, delimiter, where)

    width = len(records[0][1])
    has_labels = _has_label_column(label_column, n_features, width, records[0][0], where)
    header_names = _header(records, header, label_column if has_labels else None, where)
    if header_names is not None:
        records = records[1:]
        if not records:
            raise InputError(f"{where}: the file has a header row but no data rows.")
    _check_widths(records, width, where)

    label_index = _label_index(label_column, width, header_names, where) if has_labels else None
    feature_columns = [c for c in range(width) if c != label_index]
    if not feature_columns:
        raise InputError(
            f"{where}: the file has no feature columns (only a label column); at least one "
            "feature is needed."
        )
    names = header_names or [f"column_{c + 1}" for c in range(width)]
    feature_names = [names[c] for c in feature_columns]

    x = _parse_features(records, feature_columns, names, where)
    if label_index is None:
        y = np.full(len(records), -1, dtype=np.int64)
        class_list = list(classes) if classes is not None else []
    else:
        raw = [(lineno, cells[label_index]) for lineno, cells in records]
        y, class_list = _parse_labels(raw, classes, where, label_index, names[label_index])

    return Table(
        x=x.astype(np.float32),
        y=y,
        classes=class_list,
        feature_names=feature_names,
        rows=np.array([lineno for lineno, _ in records], dtype=np.int64),
        path=where,
    )


def _has_label_column(label_column, n_features, width: int, first_row: int,
                      where: str) -> bool:
    """Whether the file has a label column: a file as wide as the model's features has none."""
    if label_column is None:
        return False
    if n_features is None or width == n_features + 1:
        return True
    if width == n_features:
        return False
    raise InputError(
        f"{where}: row {first_row} has {width} columns; the model expects {n_features} "
        "feature columns, plus an optional label column."
    )


def _parse_features(records, feature_columns, names, where: str) -> np.ndarray:
    """The feature cells as numbers, each bad one named by file, row and column."""
    x = np.empty((len(records), len(feature_columns)), dtype=np.float64)
    for i, (lineno, cells) in enumerate(records):
        for j, c in enumerate(feature_columns):
            x[i, j] = _parse_feature(cells[c], where, lineno, c, names[c])
    return x


def _read_lines(path: Path, encoding: str) -> list[tuple[int, str]]:
    """The file's data lines as (1-based line number, text), skipping blanks and comments."""
    try:
        if path.is_dir():
            raise InputError(f"{path}: is a directory; expected a text file.")
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise InputError(f"{path}: no such file.") from err
    except OSError as err:  # permissions, a name too long, a link loop
        raise InputError(f"{path}: cannot read it ({err.strerror or err}).") from err
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        for bom, name in _BOMS.items():
            if raw.startswith(bom):
                raise InputError(
                    f"{path}: row 1, column 1: the file starts with a {name} byte-order mark "
                    "(BOM). Save it as plain UTF-8, or pass encoding='utf-8-sig' "
                    "(CLI: --encoding utf-8-sig) to accept a UTF-8 BOM."
                )
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        row = raw[: err.start].count(b"\n") + 1
        raise InputError(
            f"{path}: row {row}: bytes that are not valid {encoding} text ({err.reason})."
        ) from err
    except LookupError as err:
        raise InputError(f"unknown encoding {encoding!r}.") from err
    lines = [
        (lineno, line)
        for lineno, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise InputError(f"{path}: the file is empty (no data rows).")
    return lines


def _sniff_delimiter(first_line: str) -> str:
    for candidate in (",", "\t", ";"):
        if candidate in first_line:
            return candidate
    return " "


def _records(lines, delimiter: str, where: str) -> list[tuple[int, list[str]]]:
    """Each line split into cells, a line the CSV reader cannot split named by its row."""
    records = []
    for lineno, text in lines:
        try:
            records.append((lineno, _split(text, delimiter)))
        except csv.Error as err:
            raise InputError(f"{where}: row {lineno}: cannot split it into cells ({err}).") \
                from err
    return records


def _split(text: str, delimiter: str) -> list[str]:
    if delimiter == " ":
        return text.split()
    return [cell.strip() for cell in next(csv.reader([text], delimiter=delimiter))]


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|[+-]?(?:nan|inf|infinity)", re.ASCII | re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)


def _float(cell: str) -> float:
    """A cell as a number, in plain ASCII notation only (no `1_000`, no other scripts'
    digits, which Python's `float` would accept)."""
    if not _NUMBER.fullmatch(cell):
        raise ValueError(f"not a number: {cell!r}")
    return float(cell)


def _is_number(cell: str) -> bool:
    try:
        _float(cell)
    except ValueError:
        return False
    return True


def _header(records, header, label_column, where) -> list[str] | None:
    """The header names if the first record is a header row, else None."""
    lineno, cells = records[0]
    if header == "auto":
        label_at = None
        if isinstance(label_column, int) and -len(cells) <= label_column < len(cells):
            label_at = label_column % len(cells)
        others = [cell for c, cell in enumerate(cells) if c != label_at]
        is_header = bool(others) and not any(_is_number(cell) or cell == "" for cell in others)
        is_header = is_header or _names_numeric_columns(records, label_at)
        if isinstance(label_column, str) and label_column in cells:
            is_header = True
    elif header in (True, False):
        is_header = header
    else:
        raise InputError(f"header must be True, False or 'auto'; got {header!r}.")
    if not is_header:
        return None
    seen: dict[str, int] = {}
    for c, name in enumerate(cells):
        if name in seen:
            raise InputError(
                f"{where}: row {lineno}, column {c + 1}: duplicate header name {name!r} "
                f"(also column {seen[name] + 1}). Column names must be unique."
            )
        seen[name] = c
    return [name or f"column_{c + 1}" for c, name in enumerate(cells)]


def _names_numeric_columns(records, label_at: int | None) -> bool:
    """A first row whose label cell is a word over a column of numeric labels is a header
    (`1,2,3,4,y` names its columns with numbers)."""
    if label_at is None or len(records) < 2:
        return False
    first = records[0][1][label_at] if label_at < len(records[0][1]) else ""
    if _is_number(first) or is_unlabeled_marker(first):
        return False
    rest = [cells[label_at] for _, cells in records[1:] if label_at < len(cells)]
    return all(_is_number(cell) or is_unlabeled_marker(cell) for cell in rest)


def _check_widths(records, width, where) -> None:
    first = records[0][0]
    for lineno, cells in records:
        if len(cells) != width:
            raise InputError(
                f"{where}: row {lineno} has {len(cells)} columns, but row {first} has {width}. "
                "Every row needs the same number of cells (ragged row)."
            )


def _label_index(label_column, width, header_names, where) -> int:
    if isinstance(label_column, bool) or not isinstance(label_column, int | str):
        raise InputError(
            f"label_column must be a column index or a header name; got {label_column!r}."
        )
    if isinstance(label_column, str):
        if header_names is None or label_column not in header_names:
            known = (f" The header has: {header_names}." if header_names
                     else " The file has no header.")
            raise InputError(f"{where}: no column named {label_column!r}.{known}")
        return header_names.index(label_column)
    if not -width <= label_column < width:
        raise InputError(
            f"{where}: label_column={label_column} is out of range for a file with {width} "
            "columns."
        )
    return label_column % width


def _parse_feature(cell: str, where: str, lineno: int, column: int, name: str) -> float:
    place = f"{where}: row {lineno}, column {column + 1} ({name!r})"
    if cell == "":
        raise InputError(f"{place}: the feature is empty; missing values are not supported.")
    try:
        value = _float(cell)
    except ValueError as err:
        raise InputError(f"{place}: {cell!r} is not a number.") from err
    if not math.isfinite(value):
        raise InputError(f"{place}: {cell!r} is not a finite number (NaN and inf are refused).")
    if abs(value) > FLOAT32_MAX:
        raise InputError(
            f"{place}: {cell!r} is too large: features are float32, at most {FLOAT32_MAX:.4g} "
            "in magnitude."
        )
    return value


def is_unlabeled_marker(cell: str) -> bool:
    """Whether a label cell marks its row as unlabeled (`-1`, empty, `?` or `NaN`)."""
    cell = cell.strip()
    if cell.casefold() in UNLABELED_MARKERS:
        return True
    try:
        return _float(cell) == -1.0
    except ValueError:
        return False


def _as_int_label(cell: str) -> int | None:
    if _INTEGER.fullmatch(cell):  # exact, however large: 2**53 + 1 is not 2**53
        return int(cell)
    try:
        value = _float(cell)
    except ValueError:
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def _parse_labels(raw, classes, where, column, name):
    place = f"column {column + 1} ({name!r})"
    labeled = [(lineno, cell) for lineno, cell in raw if not is_unlabeled_marker(cell)]
    if classes is None:
        as_ints = [_as_int_label(cell) for _, cell in labeled]
        if labeled and all(v is not None for v in as_ints):
            class_list: list = sorted(set(as_ints))
        else:
            for (lineno, cell), v in zip(labeled, as_ints, strict=True):
                if v is None and _is_number(cell):
                    raise InputError(
                        f"{where}: row {lineno}, {place}: label {cell!r} is not a class name or "
                        "an integer (fewlabels does classification, not regression)."
                    )
            class_list = sorted({cell for _, cell in labeled})
    else:
        class_list = list(classes)
    int_classes = bool(class_list) and all(
        isinstance(c, int | np.integer) and not isinstance(c, bool) for c in class_list
    )
    index = {c: i for i, c in enumerate(class_list)}
    y = np.full(len(raw), -1, dtype=np.int64)
    for i, (lineno, cell) in enumerate(raw):
        if is_unlabeled_marker(cell):
            continue
        key = _as_int_label(cell) if int_classes else cell
        if key not in index:
            raise InputError(
                f"{where}: row {lineno}, {place}: label {cell!r} is not one of the known "
                f"classes {class_list}."
            )
        y[i] = index[key]
    return y, class_list
