"""Small file helpers: JSON written atomically, and read with clear errors."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fewlabels.errors import FewLabelsError


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` atomically: a temporary file in the same folder, fsync, then a rename.

    A reader never sees a half-written file, and a failed write leaves the old one intact.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically (see `write_text`)."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, raising `FewLabelsError` naming the file if it is missing or bad."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FewLabelsError(f"{path}: no such file.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FewLabelsError(f"{path}: not valid JSON ({err}).") from None


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (the data fingerprint recorded in `config.json`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
