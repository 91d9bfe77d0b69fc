"""The run directory: what a run writes where, checked before anything is trained."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import threading
from pathlib import Path

import numpy as np

from fewlabels.errors import InputError
from fewlabels.files import inside

MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"
CHECKPOINTS = "checkpoints"
EVALUATION_FILE = "evaluation.json"
RUN_FILES = (MODEL_FILE, "classes.json", "config.json", METRICS_FILE, HISTORY_FILE, CHECKPOINTS,
             "report.html", "examples.npz", "suspected.csv", "suspected.npz", EVALUATION_FILE)
"""Every name a run writes at the top of its directory (the model first: without it, a run
is unfinished)."""
LOCK_FILE = ".lock"
MANIFEST_FILE = ".manifest.json"
"""Hidden files of a run directory: the lock a writing run holds, and the list of what the
last run wrote (what an overwrite removes)."""


def check_run_dir(out: str | Path, overwrite: bool, resume: bool = False) -> Path:
    """Refuse a run directory that is a file, or non-empty without `overwrite` or `resume`.

    Training writes checkpoints into `RUN_DIR/checkpoints/` as it goes; the run files
    (`model.keras`, ...) only once training succeeded. A directory holding checkpoints but
    no model is an unfinished run: `resume` continues it, `overwrite` deletes its
    checkpoints and starts over. Each run file's name is checked to stay inside `out`
    (no planted link leads out of it).

    Args:
        out: the run directory.
        overwrite: allow a non-empty directory, replacing its run.
        resume: continue the unfinished run in it.

    Returns:
        `out`, as a `Path`. A worker of a multi-worker run checks nothing: the chief
        (`fewlabels.training.distribute.is_chief`) owns the directory.
    """
    from fewlabels.training.distribute import is_chief

    out = Path(out)
    if not is_chief():
        return out
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory.")
    checkpoints = out / CHECKPOINTS
    if resume and overwrite:
        raise InputError("--resume continues a run and --overwrite replaces it; pass one.")
    if resume:
        if not checkpoints.is_dir():
            raise InputError(f"{out}: no unfinished run to resume (no {CHECKPOINTS}/ "
                             "folder here).")
        if (out / MODEL_FILE).exists():
            raise InputError(f"{out}: this run already finished ({MODEL_FILE} exists).")
    elif out.is_dir() and _has_files(out) and not overwrite:
        hint = (" It holds an unfinished run: pass --resume to continue it." if
                checkpoints.is_dir() and not (out / MODEL_FILE).exists() else "")
        raise InputError(
            f"{out}: the run directory is not empty; choose another --out, or pass "
            f"--overwrite (overwrite=True) to replace the run files in it.{hint}"
        )
    if out.is_dir():
        for name in (*RUN_FILES, LOCK_FILE, MANIFEST_FILE):
            inside(out, name)
    return out


def check_output_file(out: str | Path, run_dir: str | Path, data: str | Path, *,
                      kind: str, folder: bool = False) -> Path:
    """Refuse an output file that is a folder (unless `folder`: the output is one), is the
    input data, lies inside the run directory, or whose folder does not exist.

    Returns:
        `out`, as a `Path`.
    """
    out = Path(out)
    if out.is_dir() and not folder:
        raise InputError(f"{out}: is a folder; give a file name for the {kind}.")
    if not out.parent.is_dir():
        raise InputError(f"{out}: the folder {out.parent} does not exist.")
    target = out.resolve()
    if Path(data).exists() and target == Path(data).resolve():
        raise InputError(f"{out}: is the input data; writing the {kind} there would "
                         "destroy it. Choose another file.")
    own_metrics = kind == "metrics" and target.name == EVALUATION_FILE
    if Path(run_dir).resolve() in target.parents and not own_metrics:
        raise InputError(f"{out}: is inside the run directory {run_dir}, whose files are "
                         f"the run's own; write the {kind} elsewhere.")
    return out


def check_replaceable(out: Path, *, overwrite: bool, folder: bool) -> None:
    """Refuse to write `out` through a link, or over what exists there unless `overwrite`,
    and never a folder over a file or a file over a folder.

    Args:
        out: the path about to be written.
        overwrite: the user asked to replace what is there.
        folder: the output is a folder (a SavedModel), else a file.
    """
    if out.is_symlink():
        raise InputError(f"{out}: is a link; fewlabels does not write through links. Remove "
                         "it or choose another path.")
    if not out.exists():
        return
    if not overwrite:
        raise InputError(f"{out}: exists; pass --overwrite (overwrite=True) to replace it.")
    if out.is_dir() != folder:
        there, wanted = ("folder", "file") if out.is_dir() else ("file", "folder")
        raise InputError(f"{out}: is a {there}, and this writes a {wanted}: refusing to "
                         f"replace one with the other, even with --overwrite.")


def _has_files(out: Path) -> bool:
    return any(p.name not in (LOCK_FILE, MANIFEST_FILE) for p in out.iterdir())


@contextlib.contextmanager
def run_lock(out: Path):
    """Hold an exclusive lock on a run directory while a run writes it.

    A second run into the same directory is refused at once, naming the process that holds
    the lock; the lock is released when the holder exits, however it exits. Within one
    thread the lock nests: `fit_run` takes it before reading the data, and the
    `run_experiment` it calls holds it already.

    A worker of a multi-worker run takes no lock: only the chief writes the directory.

    Raises:
        InputError: another process holds the lock.
    """
    import fcntl

    from fewlabels.training.distribute import is_chief

    if not is_chief():
        yield
        return
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    key = (out.resolve(), threading.get_ident())
    if key in _HELD:
        yield
        return
    fd = os.open(inside(out, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise InputError(
                f"{out}: another fewlabels run (PID {holder}) is writing this run directory; "
                "wait for it to finish, or choose another --out.") from err
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
            if created and [p.name for p in out.iterdir()] == [LOCK_FILE]:
                (out / LOCK_FILE).unlink()  # a run that wrote nothing leaves nothing
                out.rmdir()
    finally:
        os.close(fd)


_HELD: set[tuple[Path, int]] = set()
"""The run directories (and the thread) this process holds the lock of (`run_lock` nests)."""


@contextlib.contextmanager
def written_folder(out: Path):
    """The folder a run writes its files into: `out`, but on a worker of a multi-worker run
    a scratch folder of its own, deleted afterwards (only the chief writes the run)."""
    import tempfile

    from fewlabels.training.distribute import is_chief

    if is_chief():
        yield out
        return
    with tempfile.TemporaryDirectory(prefix="fewlabels-worker-") as scratch:
        yield Path(scratch)


def retire_previous_run(out: Path) -> None:
    """Remove what the run being overwritten wrote, the model first, before training.

    Only the files the last run listed in its manifest (or, for a directory without one,
    the names a run writes) are touched, each moved aside with an atomic rename, so that a
    kill at any point leaves no finished-looking model beside new checkpoints.
    """
    from fewlabels.files import read_json

    manifest = out / MANIFEST_FILE
    names = list(RUN_FILES)
    if manifest.is_file():
        listed = read_json(manifest)
        if isinstance(listed, list):
            names = [n for n in RUN_FILES if n in listed] + [
                n for n in listed if isinstance(n, str) and n not in RUN_FILES
                and "/" not in n and n not in ("", ".", "..")]
    present = [n for n in names if (out / n).exists() or (out / n).is_symlink()]
    if not present:
        return
    aside = out / f".replaced-{os.getpid()}"
    aside.mkdir(exist_ok=True)
    for name in present:
        os.rename(inside(out, name) if not (out / name).is_symlink() else out / name,
                  aside / name)
    shutil.rmtree(aside)


def write_manifest(out: Path, names: list[str]) -> None:
    """Record what a run wrote into its directory (what a later overwrite removes)."""
    from fewlabels.files import read_json, write_json

    path = inside(out, MANIFEST_FILE)
    known = read_json(path) if path.is_file() else []
    known = known if isinstance(known, list) else []
    write_json(path, sorted({*known, *names}))


def checkpoint_policy(out: Path, name: str, resume: bool, checkpoint_steps: int | None,
                      checkpoint_seconds: float | None):
    """The checkpoint policy of one estimator of a run (`RUN_DIR/checkpoints/<name>`): the
    chief of a multi-worker run writes it, every process reads it."""
    from fewlabels.training.checkpoint import CheckpointPolicy
    from fewlabels.training.distribute import is_chief

    directory = inside(out, CHECKPOINTS, name)
    return CheckpointPolicy(directory, resume=resume and directory.is_dir(),
                            every_steps=checkpoint_steps, every_seconds=checkpoint_seconds,
                            write=is_chief())


def versions() -> dict:
    """Versions of Python and the libraries a result depends on."""
    import keras
    import sklearn

    from fewlabels import __version__

    out = {
        "python": platform.python_version(),
        "fewlabels": __version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }
    if "tensorflow" in sys.modules or keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    return out


def say(verbose: int, message: str) -> None:
    """Print a stage message when `verbose`."""
    if verbose:
        print(message, flush=True)
