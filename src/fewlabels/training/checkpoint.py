"""Checkpoints that survive a kill: the store, what a checkpoint holds, fingerprints.

What Keras's `BackupAndRestore` lacks, and this module does (docs/reliability.md):

- **Atomic, verified files.** A checkpoint is one `.npz` file holding every variable of the
  training state (weights, EMA weights, optimizer slots, algorithm state, step counters,
  metric accumulators) *and* its metadata as JSON, so weights can never be paired with the
  wrong metadata. It is written to a temporary file in the same folder, fsynced, then renamed
  (`fewlabels.files.write_atomic`). The metadata carries a SHA-256 of the arrays, checked on
  load. The last `keep` checkpoints are kept.
- **Fallback.** A corrupt or truncated newest checkpoint is skipped with a warning naming it,
  and the previous one is used. If checkpoints exist but none is usable, resuming is an
  error, never a silent fresh start.
- **Refusal.** A checkpoint records the run's fingerprint (architecture, classes, algorithm,
  training parameters, data); resuming with any of them changed is refused, naming it.
- **Exact resume.** With the data order and augmentation a function of the step
  (`fewlabels.stepwise`), restoring the variables at step N and restarting the stream at N
  continues exactly as if nothing had happened, mid-epoch included: no batch is replayed.
- **NaN, SIGTERM, full disk.** `TrainingRecorder` stops on a non-finite loss naming the step
  and the last good checkpoint (kept; nothing else written); on SIGTERM it writes a
  checkpoint at the next step boundary and stops with `TrainingInterruptedError`; a failed write
  (ENOSPC) is a `CheckpointError` that names the intact previous checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import warnings
from pathlib import Path

import keras
import numpy as np

from fewlabels.errors import (
    CheckpointError,
    FewLabelsWarning,
    InputError,
    ResumeMismatchError,
    StorageError,
)
from fewlabels.files import check_npz, write_atomic

FORMAT = 1
_NAME = re.compile(r"^ckpt-(\d{10})\.npz$")


@dataclasses.dataclass
class CheckpointPolicy:
    """Where and how often a run writes checkpoints.

    Attributes:
        directory: the checkpoint folder (`RUN_DIR/checkpoints` for `fewlabels fit`).
        resume: continue from the newest usable checkpoint there (an error if there is
            none); otherwise the folder must hold no checkpoint.
        every_steps: write one every this many optimizer steps (None: only at epoch ends and
            on the time trigger).
        every_seconds: also write one when this much wall time passed since the last.
        keep: how many checkpoints to keep.
        write: write checkpoints (False: a worker of a multi-worker run, which resumes
            from the chief's checkpoints and writes none).
    """

    directory: str | Path
    resume: bool = False
    every_steps: int | None = None
    every_seconds: float | None = 60.0
    keep: int = 3
    write: bool = True

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if self.every_steps is not None and (not isinstance(self.every_steps, int)
                                             or self.every_steps < 1):
            raise InputError(f"every_steps must be an integer >= 1; got "
                                  f"{self.every_steps!r}.")
        if self.every_seconds is not None and not self.every_seconds > 0:
            raise InputError(f"every_seconds must be > 0; got {self.every_seconds!r}.")
        if not isinstance(self.keep, int) or self.keep < 1:
            raise InputError(f"keep must be an integer >= 1; got {self.keep!r}.")


# -- the files --------------------------------------------------------------------------------


def _digest(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))  # no copy of a pool
    return h.hexdigest()


class CheckpointStore:
    """A folder of numbered checkpoints, written atomically, read with verification.

    Args:
        directory: the folder (created on the first write).
        keep: checkpoints to keep; older ones are deleted after each write.
        write: False for a store that is only read (a worker of a multi-worker run reads
            the chief's): `save` then writes nothing.
    """

    def __init__(self, directory: str | Path, keep: int = 3, write: bool = True) -> None:
        self.directory = Path(directory)
        self.keep = keep
        self.write = write

    def paths(self) -> list[Path]:
        """The checkpoint files, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if _NAME.match(p.name)]
        return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))

    def save(self, step: int, arrays: list[np.ndarray], meta: dict) -> Path:
        """Write checkpoint `step` (arrays and metadata as one file), then prune old ones.

        Raises:
            CheckpointError: the write failed (a full disk, permissions); the message names
                the previous checkpoint, which is intact.
        """
        path = self.directory / f"ckpt-{int(step):010d}.npz"
        if not self.write:
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {**meta, "format": FORMAT, "step": int(step), "n_arrays": len(arrays),
                  "sha256": _digest(arrays)}
        payload = {f"a{i:05d}": a for i, a in enumerate(arrays)}
        meta_bytes = json.dumps(record).encode("utf-8")
        payload["meta"] = np.frombuffer(meta_bytes, dtype=np.uint8)
        payload["meta_sha256"] = np.frombuffer(
            hashlib.sha256(meta_bytes).hexdigest().encode(), dtype=np.uint8)
        try:
            write_atomic(path, lambda f: np.savez(f, **payload), binary=True)
        except StorageError as err:
            cause = err.__cause__ if isinstance(err.__cause__, OSError) else err
            previous = [p.name for p in self.paths() if p != path]
            kept = f"the previous checkpoint {previous[-1]} is intact" if previous else (
                "there is no earlier checkpoint")
            raise CheckpointError(
                f"could not write checkpoint {path}: {getattr(cause, 'strerror', None) or cause}"
                f"; {kept}."
            ) from err
        for old in self.paths()[:-self.keep]:
            old.unlink(missing_ok=True)
        return path

    @staticmethod
    def read(path: Path) -> tuple[list[np.ndarray], dict]:
        """Read and verify one checkpoint file.

        Raises:
            CheckpointError: the file is not a regular file of at most `MAX_BYTES` (a link,
                a FIFO, a device), or it is truncated, corrupt or inconsistent.
        """
        _check_regular(path)
        try:
            # Headers first: a flipped bit must not make np.load allocate a huge array.
            check_npz(path, max_array_bytes=1 << 40, max_expansion=2)
            with np.load(path, allow_pickle=False) as data:
                raw = bytes(data["meta"])
                if "meta_sha256" in data.files and bytes(data["meta_sha256"]).decode() != \
                        hashlib.sha256(raw).hexdigest():
                    raise ValueError("its metadata does not match its checksum")
                meta = json.loads(raw.decode("utf-8"))
                arrays = [data[f"a{i:05d}"] for i in range(int(meta["n_arrays"]))]
        except Exception as err:  # any damage (zip, npy, JSON, codec) makes it unusable
            raise CheckpointError(f"{path.name}: unreadable ({type(err).__name__}: {err})") \
                from err
        if not isinstance(meta, dict):
            raise CheckpointError(f"{path.name}: its metadata is not a JSON object")
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{path.name}: unknown checkpoint format {meta.get('format')!r}")
        if _digest(arrays) != meta.get("sha256"):
            raise CheckpointError(f"{path.name}: its arrays do not match their checksum")
        return arrays, meta

    def latest(self) -> tuple[list[np.ndarray], dict, Path]:
        """The newest usable checkpoint; corrupt newer ones are skipped with a warning.

        Raises:
            CheckpointError: no checkpoint, or none usable (each one's fault is listed).
        """
        paths = self.paths()
        if not paths:
            raise CheckpointError(f"{self.directory}: no checkpoint to resume from.")
        faults = []
        for path in reversed(paths):
            try:
                arrays, meta = self.read(path)
            except CheckpointError as err:
                faults.append(str(err))
                continue
            if faults:
                warnings.warn(
                    f"skipping corrupt checkpoint(s): {'; '.join(faults)}. Resuming from "
                    f"{path.name} (step {meta['step']}) instead.", FewLabelsWarning,
                    stacklevel=2)
            return arrays, meta, path
        raise CheckpointError(
            f"{self.directory}: no usable checkpoint ({'; '.join(faults)}). Refusing to start "
            "over silently: remove the folder (or pass --overwrite) to train from scratch."
        )


MAX_BYTES = 16 << 30
"""The largest checkpoint file read: far above any model fewlabels trains on a CPU."""


def _check_regular(path: Path) -> None:
    """Refuse, before opening it, a checkpoint that is not a regular file (a FIFO would block
    the read, a link to /dev/zero would be read until memory runs out) or is too large."""
    import stat

    try:
        info = os.lstat(path)
    except OSError as err:
        raise CheckpointError(f"{path.name}: unreadable ({err.strerror})") from err
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path.name}: not a regular file (a link, FIFO or device); "
                              "fewlabels reads only the checkpoint files it wrote")
    if info.st_size > MAX_BYTES:
        raise CheckpointError(f"{path.name}: {info.st_size} bytes, more than the "
                              f"{MAX_BYTES} a checkpoint may have")


# -- the training state -----------------------------------------------------------------------


def state_variables(model: keras.Model) -> tuple[list, int]:
    """Every variable a bit-exact resume needs, and how many trailing ones are metrics.

    The model's variables (weights, EMA weights, algorithm state, step counters,
    random-generator states), then the optimizer's, then the metric accumulators last.
    """
    metrics = list(model.metrics_variables)
    seen = {id(v) for v in metrics}
    out = []
    for v in [*model.variables, *(model.optimizer.variables if model.optimizer else [])]:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out + metrics, len(metrics)


def architecture_fingerprint(variables: list) -> str:
    """A SHA-256 of the variables' shapes and dtypes, in order.

    Not their paths: Keras numbers auto-named layers per process (`dense_3`), so the same
    architecture built twice has other paths.
    """
    shapes = [d[1:] for d in describe(variables)]
    return hashlib.sha256(json.dumps(shapes).encode()).hexdigest()


def describe(variables: list) -> list[list]:
    """`[path, shape, dtype]` of each variable (the architecture part of a fingerprint)."""
    return [[v.path, list(v.shape), str(v.dtype)] for v in variables]


def capture(variables: list) -> list[np.ndarray]:
    """The variables' current values, as NumPy arrays."""
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]  # (mirrored ones too)


def restore(variables: list, arrays: list[np.ndarray], described: list[list]) -> None:
    """Assign checkpointed values, after checking that they are the same variables.

    Raises:
        CheckpointError: the variables differ in number, name or shape (naming the first).
    """
    current = describe(variables)
    if len(current) != len(described):
        raise CheckpointError(
            f"cannot resume: the checkpoint holds {len(described)} variables but this model "
            f"has {len(current)}: the architecture, optimizer or algorithm changed."
        )
    for now, then in zip(current, described, strict=True):
        if now[1:] != then[1:]:
            raise CheckpointError(
                f"cannot resume: variable {then[0]} was {then[1]} {then[2]} in the checkpoint "
                f"and is {now[1]} {now[2]} now: the architecture changed."
            )
    for v, a in zip(variables, arrays, strict=True):
        v.assign(a)


def check_fingerprint(saved: dict, current: dict) -> None:
    """Refuse to resume when what defines the run changed, naming each change.

    Args:
        saved: the fingerprint in the checkpoint.
        current: this run's.

    Raises:
        ResumeMismatchError: listing every key whose value differs.
    """
    changed = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True):
            if isinstance(old, dict) and isinstance(new, dict):
                changed.append(f"{key} ({', '.join(_changed_settings(old, new))})")
            elif isinstance(old, str) and len(old) == 64:  # a hash
                changed.append(f"{key} (fingerprint {old[:12]} -> {str(new)[:12]})")
            else:
                changed.append(f"{key} ({old!r} -> {new!r})")
    if changed:
        raise ResumeMismatchError(
            "cannot resume: this run differs from the checkpointed one in "
            + "; ".join(changed) + ". Resume with the original settings and data, or start a "
            "new run (another --out, or --overwrite)."
        )


def _changed_settings(old: dict, new: dict, prefix: str = "") -> list[str]:
    """`name: old -> new` for each setting that differs, nested ones as `budget.steps`."""
    parts = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            parts += _changed_settings(a, b, f"{prefix}{k}.")
        elif a != b:
            parts.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return parts


def array_fingerprint(*arrays: np.ndarray) -> str:
    """A SHA-256 over arrays' dtypes, shapes and bytes (the data part of a fingerprint)."""
    return _digest([np.asarray(a) for a in arrays])
