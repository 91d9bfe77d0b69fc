"""Labels given back by an annotator: a CSV of item and label, merged into the data.

`fewlabels suggest` writes the items worth labelling as a CSV whose first column names each
item (`row`: a table's 1-based line number; `path`: an image's path inside the data folder;
`index`: an array's position) and whose `label` column is empty. The annotator fills in
`label` (a class name) for the items it labels and leaves the others empty; `fewlabels fit
DATA --labels FILE` merges the filled ones into DATA's labels, checked first: every item
must exist in DATA, every label must be a class of DATA, an item labelled twice must get
the same label, and an item DATA already labels must keep its label.

Example:
```python
answers = read_answers("picks.csv")
y = merge_answers(y, keys, classes, answers, source="picks.csv")
```
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

import numpy as np

from fewlabels.errors import InputError

KEY_COLUMNS = ("row", "path", "index")
"""The first column of a picks or answers CSV: what names an item."""


@dataclasses.dataclass(frozen=True)
class Answers:
    """The labelled lines of an answers CSV.

    Attributes:
        source: the file.
        key: its key column (`row`, `path` or `index`).
        items: `(line, item, label)` per line with a label (1-based line numbers in the file).
    """

    source: str
    key: str
    items: list[tuple[int, str, str]]


def read_answers(path: str | os.PathLike) -> Answers:
    """Read an answers CSV: a key column (`row`, `path` or `index`) and a `label` column;
    other columns (the score, the predicted class) are ignored, and so are empty labels.

    Args:
        path: the CSV.

    Returns:
        The `Answers`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such labels file.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            lines = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path}: not a readable CSV of labels ({error}).") from None
    header = [cell.strip() for cell in (lines[0] if lines else [])]
    keys = [k for k in KEY_COLUMNS if k in header]
    if not keys or "label" not in header:
        raise InputError(f"{path}: a labels file needs a header with a key column (one of "
                         f"{list(KEY_COLUMNS)}) and a 'label' column; got {header}.")
    at, label_at = header.index(keys[0]), header.index("label")
    items = []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) <= max(at, label_at):
            raise InputError(f"{path}, line {number}: {len(cells)} cells; the header has "
                             f"{len(header)}.")
        label = cells[label_at].strip()
        if label:
            items.append((number, cells[at].strip(), label))
    return Answers(str(path), keys[0], items)


def merge_answers(y: np.ndarray, keys: list[str], classes: list[str], answers: Answers,
                  *, key: str) -> tuple[np.ndarray, int]:
    """`y` with the answers' labels merged in, checked.

    Args:
        y: class indices, -1 for unlabeled items.
        keys: each item's name, as the key column writes it.
        classes: the class names, index order.
        answers: from `read_answers`.
        key: the key column this data is named by (`row`, `path` or `index`).

    Returns:
        `(y, n_new)`: the merged labels (a copy) and how many items gained a label.
    """
    if answers.key != key:
        raise InputError(f"{answers.source}: its items are named by {answers.key!r}, but "
                         f"this data's are named by {key!r}.")
    where = {_norm(k, key): i for i, k in enumerate(keys)}
    names = [str(c) for c in classes]
    index_of = {c: i for i, c in enumerate(names)}
    y = np.array(y, dtype=np.int64, copy=True)
    given: dict[int, tuple[int, str]] = {}
    for line, item, label in answers.items:
        at = f"{answers.source}, line {line}"
        if _norm(item, key) not in where:
            raise InputError(f"{at}: no {key} {item!r} in the data.")
        if label not in index_of:
            raise InputError(f"{at}: label {label!r} is not a class of the data "
                             f"({names}).")
        i, c = where[_norm(item, key)], index_of[label]
        if i in given and given[i][0] != c:
            raise InputError(f"{at}: {key} {item!r} is labelled {label!r}, but line "
                             f"{given[i][1]} labels it {names[given[i][0]]!r}.")
        if y[i] >= 0 and y[i] != c:
            raise InputError(f"{at}: {key} {item!r} is labelled {label!r}, but the data "
                             f"labels it {names[y[i]]!r}.")
        given[i] = (c, str(line))
    n_new = sum(1 for i in given if y[i] < 0)
    for i, (c, _) in given.items():
        y[i] = c
    return y, n_new


def _norm(item: str, key: str) -> str:
    """An item's name as compared: paths normalized (`a/./b` is `a/b`), numbers as ints."""
    if key == "path":
        return os.path.normpath(item)
    try:
        return str(int(item))
    except ValueError:
        return item
