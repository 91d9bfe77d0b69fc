"""Small file helpers: JSON written atomically, and read with clear errors."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fewlabels.errors import InputError


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, **mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


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
