"""File helpers: atomic writes with the user's file mode, clear errors for odd files."""

import errno
import stat

import pytest

from fewlabels.errors import InputError, StorageError
from fewlabels.files import read_json, write_atomic, write_json


def test_run_files_get_the_mode_any_new_file_gets(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644


def test_a_failed_write_is_a_storage_error_and_leaves_no_temporary_file(tmp_path):
    write_json(tmp_path / "a.json", {"old": True})

    def full_disk(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StorageError, match=r"a.json: cannot write it \(No space left on "
                                           r"device\); any previous file of that name is "
                                           "intact"):
        write_atomic(tmp_path / "a.json", full_disk)
    assert read_json(tmp_path / "a.json") == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), r"cannot read it \(Is a directory\)"),
    (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "nests too deeply"),
    (lambda p: p.write_text("{"), "not valid JSON"),
])
def test_odd_json_files_are_named_not_tracebacks(tmp_path, make, message):
    path = tmp_path / "config.json"
    make(path)
    with pytest.raises(InputError, match=message):
        read_json(path)


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("cat", "cat"), (-2, "-2"), ("-3.5", "-3.5"), (7, "7"),
])
def test_csv_cell_neutralizes_formula_starts_but_not_numbers(value, cell):
    from fewlabels.files import csv_cell

    assert csv_cell(value) == cell
