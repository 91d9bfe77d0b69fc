"""The run directory: what a run writes where, checked before anything is trained."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np

from fewlabels.errors import InputError
from fewlabels.files import inside

MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"
CHECKPOINTS = "checkpoints"
RUN_FILES = (MODEL_FILE, "classes.json", "config.json", METRICS_FILE, HISTORY_FILE, CHECKPOINTS)
"""Every name a run writes at the top of its directory."""


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
        `out`, as a `Path`.
    """
    out = Path(out)
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
    elif out.is_dir() and any(out.iterdir()) and not overwrite:
        hint = (" It holds an unfinished run: pass --resume to continue it." if
                checkpoints.is_dir() and not (out / MODEL_FILE).exists() else "")
        raise InputError(
            f"{out}: the run directory is not empty; choose another --out, or pass "
            f"--overwrite (overwrite=True) to replace the run files in it.{hint}"
        )
    if out.is_dir():
        for name in RUN_FILES:
            inside(out, name)
    return out


def clear_checkpoints(out: Path) -> None:
    """Delete an overwritten run's checkpoints (never through a link)."""
    checkpoints = out / CHECKPOINTS
    if checkpoints.is_dir() and not checkpoints.is_symlink():
        import shutil

        shutil.rmtree(checkpoints)


def checkpoint_policy(out: Path, name: str, resume: bool, checkpoint_steps: int | None,
                      checkpoint_seconds: float | None):
    """The checkpoint policy of one estimator of a run (`RUN_DIR/checkpoints/<name>`)."""
    from fewlabels.training.checkpoint import CheckpointPolicy

    directory = inside(out, CHECKPOINTS, name)
    return CheckpointPolicy(directory, resume=resume and directory.is_dir(),
                            every_steps=checkpoint_steps, every_seconds=checkpoint_seconds)


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
