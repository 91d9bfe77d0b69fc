"""Small file helpers: JSON written atomically, and read with clear errors."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from fewlabels.errors import InputError, StorageError


def write_atomic(path: str | os.PathLike, write, *, binary: bool = False) -> None:
    """Write a file atomically: a temporary file in the same folder, fsync, then a rename.

    A reader never sees a half-written file, and a failed write (a full disk, a kill) leaves
    the old file intact; the temporary file is removed.

    Args:
        path: the file to write.
        write: called with the open temporary file; writes the content.
        binary: open the file in binary mode.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise StorageError(f"{path}: cannot write it ({err.strerror or err}).") from err
    try:
        os.fchmod(fd, default_file_mode())  # as any file the user creates, not mkstemp's 0600
        mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, **mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write it ({err.strerror or err}); any previous "
                           "file of that name is intact.") from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def default_file_mode() -> int:
    """The mode a new file gets under the process's umask (0o644 under the usual 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` atomically (see `write_atomic`)."""
    write_atomic(path, lambda f: f.write(text))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically (see `write_text`)."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, raising `InputError` naming the file if it is missing or bad."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise InputError(f"{path}: no such file.") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err}).") from err
    except RecursionError as err:
        raise InputError(f"{path}: its JSON nests too deeply to read.") from err
    except OSError as err:  # a folder, permissions
        raise InputError(f"{path}: cannot read it ({err.strerror or err}).") from err


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (the data fingerprint recorded in `config.json`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inside(root: str | os.PathLike, *parts: str) -> Path:
    """`root / parts`, refused if it resolves outside `root` (a symlink or `..` escape).

    Every file fewlabels writes into a run directory goes through this, so a planted
    symlink (`RUN_DIR/model.keras -> ~/.bashrc`) cannot redirect a write.

    Raises:
        InputError: naming the path and where it leads.
    """
    root = Path(root)
    path = root.joinpath(*parts)
    real_root, real = root.resolve(), path.resolve()
    if real != real_root and real_root not in real.parents:
        raise InputError(
            f"{path}: escapes the output directory {real_root} (it resolves to {real}); "
            "refusing to write there."
        )
    return path


def check_npz(path: str | os.PathLike, names=None, *, max_array_bytes: int,
              max_expansion: int) -> None:
    """Refuse an `.npz` that is not a zip of arrays, whose arrays declare more bytes than
    `max_array_bytes` or than the archive holds for them, or that unpack to more than
    `max_expansion` times their packed size: read from headers, before any array.

    Args:
        path: the `.npz` file.
        names: the arrays to check (default: all).
        max_array_bytes: the most bytes one array may declare.
        max_expansion: the most one member may unpack, as a multiple of its packed size.

    Raises:
        InputError: naming the file, the array and what is wrong.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not an .npz file (an .npz is a zip archive of arrays).")
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if names is not None and member.filename.removesuffix(".npy") not in names:
                    continue
                declared = _declared_bytes(archive, member)
                limit = (f"the {max_array_bytes:,} fewlabels reads"
                         if declared > max_array_bytes else "the archive holds for it")
                if declared > min(max_array_bytes, member.file_size):
                    raise InputError(f"{path}: array {member.filename!r} declares "
                                     f"{declared:,} bytes, more than {limit}; refused.")
                if member.file_size > 1 << 20 and member.file_size > max_expansion * max(
                        member.compress_size, 1):
                    raise InputError(
                        f"{path}: array {member.filename!r} unpacks from "
                        f"{member.compress_size:,} bytes to {member.file_size:,}, more than "
                        f"{max_expansion}x (a decompression bomb); refused.")
    except InputError:
        raise
    except Exception as err:  # any damage to the zip or an .npy header
        raise InputError(f"{path}: not a readable .npz file ({type(err).__name__}: {err}).") \
            from err


def _declared_bytes(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """The bytes an `.npy` member declares in its header (shape x item size)."""
    import numpy as np

    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read(f, max_header_size=1 << 16)
    return int(np.prod(shape, dtype=object)) * dtype.itemsize


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP's CSV-injection list)."""


def csv_cell(value) -> str:
    """`value` as a CSV cell a spreadsheet shows as text: a cell starting with `=`, `+`,
    `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP's advice), unless it is a
    plain number such as `-3.5`.

    Example:
    ```python
    csv_cell("=HYPERLINK(...)")  # "'=HYPERLINK(...)"
    csv_cell(-2)                 # "-2"
    ```
    """
    text = str(value)
    if not text.startswith(FORMULA_START):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text

