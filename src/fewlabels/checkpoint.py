"""Checkpoints that survive a kill, and the training callback that writes them.

What Keras's `BackupAndRestore` lacks, and this module does (docs/reliability.md):

- **Atomic, verified files.** A checkpoint is one `.npz` file holding every variable of the
  training state (weights, EMA weights, optimizer slots, algorithm state, step counters,
  metric accumulators) *and* its metadata as JSON, so weights can never be paired with the
  wrong metadata. It is written to a temporary file in the same folder, fsynced, then renamed
  (`fewlabels.io.write_atomic`). The metadata carries a SHA-256 of the arrays, checked on
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

import contextlib
import dataclasses
import hashlib
import json
import math
import re
import signal
import threading
import time
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np

from fewlabels.errors import (
    CheckpointError,
    FewLabelsWarning,
    NonFiniteLossError,
    TrainingInterruptedError,
)
from fewlabels.io import write_atomic

CHECKPOINT_DIR = "checkpoints"
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
    """

    directory: str | Path
    resume: bool = False
    every_steps: int | None = None
    every_seconds: float | None = 60.0
    keep: int = 3

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if self.every_steps is not None and (not isinstance(self.every_steps, int)
                                             or self.every_steps < 1):
            raise CheckpointError(f"every_steps must be an integer >= 1; got "
                                  f"{self.every_steps!r}.")
        if self.every_seconds is not None and not self.every_seconds > 0:
            raise CheckpointError(f"every_seconds must be > 0; got {self.every_seconds!r}.")
        if not isinstance(self.keep, int) or self.keep < 1:
            raise CheckpointError(f"keep must be an integer >= 1; got {self.keep!r}.")


# -- the files --------------------------------------------------------------------------------


def _digest(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class CheckpointStore:
    """A folder of numbered checkpoints, written atomically, read with verification.

    Args:
        directory: the folder (created on the first write).
        keep: checkpoints to keep; older ones are deleted after each write.
    """

    def __init__(self, directory: str | Path, keep: int = 3) -> None:
        self.directory = Path(directory)
        self.keep = keep

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
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"ckpt-{int(step):010d}.npz"
        record = {**meta, "format": FORMAT, "step": int(step), "n_arrays": len(arrays),
                  "sha256": _digest(arrays)}
        payload = {f"a{i:05d}": a for i, a in enumerate(arrays)}
        payload["meta"] = np.frombuffer(json.dumps(record).encode("utf-8"), dtype=np.uint8)
        try:
            write_atomic(path, lambda f: np.savez(f, **payload), binary=True)
        except OSError as err:
            previous = [p.name for p in self.paths() if p != path]
            kept = f"the previous checkpoint {previous[-1]} is intact" if previous else (
                "there is no earlier checkpoint")
            raise CheckpointError(
                f"could not write checkpoint {path}: {err.strerror or err}; {kept}."
            ) from None
        for old in self.paths()[:-self.keep]:
            old.unlink(missing_ok=True)
        return path

    @staticmethod
    def read(path: Path) -> tuple[list[np.ndarray], dict]:
        """Read and verify one checkpoint file.

        Raises:
            CheckpointError: the file is truncated, corrupt or inconsistent.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                arrays = [data[f"a{i:05d}"] for i in range(int(meta["n_arrays"]))]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
                json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{path.name}: unreadable ({type(err).__name__}: {err})") \
                from None
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
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in variables]


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
        CheckpointError: listing every key whose value differs.
    """
    changed = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True):
            if isinstance(old, dict) and isinstance(new, dict):
                parts = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
                         for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
                changed.append(f"{key} ({', '.join(parts)})")
            elif isinstance(old, str) and len(old) == 64:  # a hash
                changed.append(f"{key} (fingerprint {old[:12]} -> {str(new)[:12]})")
            else:
                changed.append(f"{key} ({old!r} -> {new!r})")
    if changed:
        raise CheckpointError(
            "cannot resume: this run differs from the checkpointed one in "
            + "; ".join(changed) + ". Resume with the original settings and data, or start a "
            "new run (another --out, or --overwrite)."
        )


def array_fingerprint(*arrays: np.ndarray) -> str:
    """A SHA-256 over arrays' dtypes, shapes and bytes (the data part of a fingerprint)."""
    return _digest([np.asarray(a) for a in arrays])


# -- the callback -----------------------------------------------------------------------------


class TrainingRecorder(keras.callbacks.Callback):
    """Counts steps, keeps the epoch history, stops on NaN/SIGTERM and writes checkpoints.

    One recorder follows a run across `fit` calls (a resumed run's partial first epoch is a
    separate call), so `history` and `step` span the whole run.

    Args:
        variables: the training-state variables (`state_variables(model)`).
        store: where to write checkpoints, or None (then NaN and SIGTERM still stop the run).
        fingerprint: the run's fingerprint, saved in every checkpoint.
        every_steps, every_seconds: see `CheckpointPolicy`.
        step: the step training starts at (the checkpoint's, when resuming).
        history: the epoch logs so far.
        stateful: named objects with `get_state()`/`set_state(dict)` (monitors, early
            stopping, a multi-stage run's journal) whose state goes into the checkpoint
            metadata; a state may carry NumPy arrays under `"arrays"` (a list), stored in
            the checkpoint file beside the variables.
        offset: added to `step` to number checkpoints (a later stage of a multi-stage run
            numbers on from the earlier stages' steps).
        n_metric_variables: how many of the trailing `variables` are metric accumulators,
            restored again after Keras resets them at the start of the resumed epoch.
    """

    def __init__(self, variables: list, *, store: CheckpointStore | None = None,
                 fingerprint: dict | None = None, every_steps: int | None = None,
                 every_seconds: float | None = None, step: int = 0,
                 history: list[dict] | None = None, stateful: dict | None = None,
                 offset: int = 0, n_metric_variables: int = 0) -> None:
        super().__init__()
        self.variables = variables
        self.store = store
        self.fingerprint = fingerprint or {}
        self.every_steps = every_steps
        self.every_seconds = every_seconds
        self.step = int(step)
        self.history: list[dict] = list(history or [])
        self.stateful = stateful or {}
        self.offset = int(offset)
        self.stopped = False
        self.n_metric_variables = n_metric_variables
        self.pending_metrics: list[np.ndarray] | None = None
        self.last_path: Path | None = None
        self.last_time = time.monotonic()
        self.stop_reason: str | None = None
        self.epoch_start = self.step
        self.started = time.perf_counter()
        self.epoch_wall: list[float] = []
        """Seconds from the recorder's creation to each epoch end of this process (kept out
        of `history`, which must not depend on timing)."""

    # -- state in and out -----------------------------------------------------------------

    def resume_from(self, arrays: list[np.ndarray], meta: dict, path: Path) -> None:
        """Restore a checkpoint read by `CheckpointStore.latest` (fingerprint checked)."""
        check_fingerprint(meta.get("fingerprint", {}), self.fingerprint)
        n_vars = len(meta["variables"])
        restore(self.variables, arrays[:n_vars], meta["variables"])
        states = stateful_states(arrays, meta)
        for name, obj in self.stateful.items():
            obj.set_state(states[name])
        self.step = int(meta["step"]) - self.offset
        self.history = list(meta["history"])
        self.stopped = bool(meta.get("stopped"))
        if self.n_metric_variables and meta.get("mid_epoch"):
            self.pending_metrics = arrays[n_vars - self.n_metric_variables:n_vars]
        self.last_path = path

    def save(self, *, mid_epoch: bool) -> None:
        """Write a checkpoint of the current step (no-op without a store)."""
        if self.store is None:
            return
        arrays = capture(self.variables)
        stateful = {}
        for name, obj in self.stateful.items():
            state = dict(obj.get_state())
            extra = [np.asarray(a) for a in state.pop("arrays", [])]
            stateful[name] = {**state, "n_arrays": len(extra)}
            arrays += extra
        meta = {"fingerprint": self.fingerprint, "variables": describe(self.variables),
                "history": self.history, "mid_epoch": mid_epoch, "stateful": stateful,
                "stopped": bool(getattr(self.model, "stop_training", False))}
        self.last_path = self.store.save(self.offset + self.step, arrays, meta)
        self.last_time = time.monotonic()

    def request_stop(self, reason: str) -> None:
        """Ask for a checkpoint and a stop at the next step boundary (signal-safe)."""
        self.stop_reason = reason

    # -- Keras hooks ----------------------------------------------------------------------

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epoch_start = self.step
        if self.pending_metrics is not None:  # after Keras reset them for this epoch
            for v, a in zip(self.variables[-self.n_metric_variables:], self.pending_metrics,
                            strict=True):
                v.assign(a)
            self.pending_metrics = None

    def on_train_batch_end(self, batch, logs=None) -> None:
        before = self.step
        self.step = self.epoch_start + int(batch) + 1  # batch: the last step of this call
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            last = (f"the last good checkpoint is {self.last_path}" if self.last_path
                    else "no checkpoint was written")
            raise NonFiniteLossError(
                f"the training loss became {loss} at step {self.offset + before + 1} (a NaN or "
                "infinite loss: lower the learning rate, or check the data for extreme "
                f"values); {last}. No final model was written."
            )
        if self.stop_reason is not None and not self._epoch_done(batch):
            self.save(mid_epoch=True)
            self._stop()
        if self._epoch_done(batch):
            return  # on_epoch_end writes the epoch-end checkpoint, with the epoch's logs
        due_steps = self.every_steps and self.step // self.every_steps > before // self.every_steps
        due_time = (self.every_seconds is not None
                    and time.monotonic() - self.last_time >= self.every_seconds)
        if due_steps or due_time:
            self.save(mid_epoch=True)

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.history.append({k: float(v) for k, v in (logs or {}).items()})
        self.epoch_wall.append(round(time.perf_counter() - self.started, 3))
        self.save(mid_epoch=False)
        if self.stop_reason is not None:
            self._stop()

    def _stop(self) -> None:
        where = f"checkpoint {self.last_path}" if self.last_path else "no checkpoint (no --out)"
        raise TrainingInterruptedError(
            f"stopped by {self.stop_reason} at step {self.offset + self.step}; saved {where}. "
            "Run the same command with --resume to continue."
        )

    def _epoch_done(self, batch) -> bool:
        steps = (self.params or {}).get("steps")
        return steps is not None and batch + 1 >= steps


@contextlib.contextmanager
def stop_on_sigterm(recorder: TrainingRecorder):
    """While training, turn SIGTERM into a checkpoint and a clean stop (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: recorder.request_stop(
        "SIGTERM"))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)



def stateful_states(arrays: list[np.ndarray], meta: dict) -> dict[str, dict]:
    """Each stateful object's saved state, its arrays (stored after the variables, in the
    objects' order) put back under `"arrays"`."""
    rest = arrays[len(meta["variables"]):]
    states = {}
    for name, saved in meta["stateful"].items():
        state = dict(saved)
        count = state.pop("n_arrays", 0)
        state["arrays"], rest = rest[:count], rest[count:]
        states[name] = state
    return states


def refuse_earlier_run(store: CheckpointStore) -> None:
    """Not resuming: refuse a folder that already holds another run's checkpoints."""
    if store.paths():
        raise CheckpointError(
            f"{store.directory} holds checkpoints of an earlier run: pass --resume "
            "(resume=True) to continue it, or --overwrite to start over."
        )


def start_recorder(policy: CheckpointPolicy | None, model: keras.Model, fingerprint: dict, *,
                   stateful: dict | None = None) -> TrainingRecorder:
    """The recorder of a run: fresh, or restored from `policy.directory` when resuming.

    Args:
        policy: checkpointing, or None (no checkpoints; NaN and SIGTERM still stop the run).
        model: the compiled model, optimizer built.
        fingerprint: what defines the run (the architecture is added here).
        stateful: objects with `get_state`/`set_state` to checkpoint with it.

    Raises:
        CheckpointError: resuming without a usable checkpoint or with a changed run; or
            not resuming while the folder already holds checkpoints.
    """
    variables, n_metrics = state_variables(model)
    fingerprint = {**fingerprint, "architecture": architecture_fingerprint(variables)}
    store = None if policy is None else CheckpointStore(policy.directory, policy.keep)
    recorder = TrainingRecorder(
        variables, store=store, fingerprint=fingerprint,
        every_steps=None if policy is None else policy.every_steps,
        every_seconds=None if policy is None else policy.every_seconds,
        stateful=stateful, n_metric_variables=n_metrics)
    if policy is not None and policy.resume:
        recorder.resume_from(*store.latest())
    elif store is not None:
        refuse_earlier_run(store)
    return recorder


def fit_resumable(model: keras.Model, stream_from, *, recorder: TrainingRecorder, epochs: int,
                  steps_per_epoch: int, callbacks: list, verbose: int | str = 0) -> bool:
    """Run `model.fit` from the recorder's step to the end of `epochs`, SIGTERM handled.

    A run resumed mid-epoch finishes that epoch in a first `fit` call of the remaining steps
    (its metrics continue from the checkpoint), then runs the other epochs in a second.

    Args:
        model: the compiled model.
        stream_from: `step -> tf.data.Dataset` yielding the batches from that step on.
        recorder: the run's `TrainingRecorder` (it must be among `callbacks`).
        epochs: epochs in the whole run.
        steps_per_epoch: steps per epoch.
        callbacks: the callbacks, in order.
        verbose: Keras verbosity.

    Returns:
        Whether `fit` ran at all (not when the checkpoint was the end of training, or was
        written as early stopping ended it).
    """
    epoch, into = divmod(recorder.step, steps_per_epoch)
    if recorder.stopped or epoch >= epochs:
        return False
    with stop_on_sigterm(recorder):
        if into:
            model.fit(stream_from(recorder.step), steps_per_epoch=steps_per_epoch - into,
                      epochs=epoch + 1, initial_epoch=epoch, callbacks=callbacks,
                      verbose=verbose, shuffle=False)
            epoch += 1
        if epoch < epochs:
            model.fit(stream_from(epoch * steps_per_epoch), steps_per_epoch=steps_per_epoch,
                      epochs=epochs, initial_epoch=epoch, callbacks=callbacks, verbose=verbose,
                      shuffle=False)
    return True
