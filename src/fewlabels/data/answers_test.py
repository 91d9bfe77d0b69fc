"""An annotator's labels merged into the data, and every conflict named by line."""

import numpy as np
import pytest

from fewlabels.data.answers import merge_answers, read_answers
from fewlabels.errors import FewLabelsError

KEYS = ["2", "3", "4", "5"]  # a table's line numbers
CLASSES = ["cat", "dog"]
Y = np.array([0, -1, -1, -1])


def answers(tmp_path, text: str):
    path = tmp_path / "picks.csv"
    path.write_text(text)
    return read_answers(path)


def test_filled_labels_are_merged_and_empty_ones_left_unlabeled(tmp_path):
    given = answers(tmp_path, "row,label,score,predicted\n3,dog,0.9,cat\n4,,0.8,cat\n"
                              "5, cat ,0.7,dog\n\n2,cat,0.1,cat\n")
    y, added = merge_answers(Y, KEYS, CLASSES, given, key="row")
    assert list(y) == [0, 1, -1, 0] and added == 2
    assert list(Y) == [0, -1, -1, -1]  # a copy


def test_image_paths_match_however_they_are_spelled(tmp_path):
    given = answers(tmp_path, "path,label\n./unlabeled//a.png,dog\n")
    y, added = merge_answers(np.array([-1, -1]), ["unlabeled/a.png", "unlabeled/b.png"],
                             CLASSES, given, key="path")
    assert list(y) == [1, -1] and added == 1


@pytest.mark.parametrize(("text", "message"), [
    ("row,label\n9,dog\n", r"picks.csv, line 2: no row '9' in the data"),
    ("row,label\n3,bird\n", r"line 2: label 'bird' is not a class of the data "
                            r"\(\['cat', 'dog'\]\)"),
    ("row,label\n3,dog\n3,cat\n", r"line 3: row '3' is labelled 'cat', but line 2 labels "
                                  r"it 'dog'"),
    ("row,label\n2,dog\n", r"line 2: row '2' is labelled 'dog', but the data labels it "
                           r"'cat'"),
    ("path,label\na.png,dog\n", r"its items are named by 'path', but this data's are named "
                                r"by 'row'"),
    ("item,class\n3,dog\n", r"needs a header with a key column \(one of \['row', 'path', "
                            r"'index'\]\) and a 'label' column; got \['item', 'class'\]"),
    ("row,label,score\n3\n", r"line 2: 1 cells; the header has 3"),
])
def test_conflicts_and_bad_files_are_named_by_line(tmp_path, text, message):
    with pytest.raises(FewLabelsError, match=message):
        merge_answers(Y, KEYS, CLASSES, answers(tmp_path, text), key="row")


def test_a_missing_or_unreadable_file_is_named(tmp_path):
    with pytest.raises(FewLabelsError, match="no such labels file"):
        read_answers(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00row")
    with pytest.raises(FewLabelsError, match=r"bin\.csv: not a readable CSV"):
        read_answers(tmp_path / "bin.csv")
