"""The training callback that writes checkpoints, and `fit` that can resume mid-epoch.

`TrainingRecorder` counts steps, keeps the epoch history, stops on a non-finite loss naming the
step and the last good checkpoint, writes a checkpoint at the next step boundary on SIGTERM
and stops with `TrainingInterruptedError`. `fit_resumable` runs Keras `fit` from any step.
What a checkpoint holds, and the store that writes it, are in `fewlabels.training.checkpoint`.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from pathlib import Path

import keras
import numpy as np

from fewlabels.errors import (
    NonFiniteLossError,
    ResumeMismatchError,
    TrainingInterruptedError,
)
from fewlabels.training.checkpoint import (
    CheckpointStore,
    capture,
    check_fingerprint,
    describe,
    restore,
)


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
        self.history.append({k: float(v) for k, v in measured(self.model, logs).items()})
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
        raise ResumeMismatchError(
            f"{store.directory} holds checkpoints of an earlier run: pass --resume "
            "(resume=True) to continue it, or --overwrite to start over."
        )


def measured(model: keras.Model, logs: dict | None) -> dict:
    """An epoch's logs without the metrics that measured nothing (the model's
    `unmeasured_metrics()`, when it has one: the unsupervised terms of a supervised run, the
    pseudo-label accuracy with no hidden label), which Keras logs as 0."""
    unmeasured = getattr(model, "unmeasured_metrics", set)()
    return {k: v for k, v in (logs or {}).items() if k not in unmeasured}


class EpochLine(keras.callbacks.Callback):
    """One short line per epoch: the losses, the mask rate, validation, and the time.

    Keras's own lines print every metric, one pseudo-label share per class among them
    (hundreds of characters with a few classes); those stay in `history.json` and the
    report. Pseudo-label accuracy is shown only where hidden labels made it known.

    Args:
        epochs: the epochs of the whole run (for `epoch k/n`).
    """

    SHOWN = ("loss", "sup_loss", "unsup_loss", "mask_rate", "pseudo_label_accuracy",
             "accuracy", "val_loss", "val_accuracy")

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = measured(self.model, logs)
        parts = [f"{key} {float(logs[key]):.4f}" for key in self.SHOWN
                 if key in logs and math.isfinite(float(logs[key]))]
        print(f"epoch {epoch + 1}/{self.epochs}  " + "  ".join(parts)
              + f"  ({time.perf_counter() - self.started:.1f} s)", flush=True)


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
        verbose: 0 quiet; 1 one short line per epoch (`EpochLine`); 2 Keras's own line per
            epoch, with every metric.

    Returns:
        Whether `fit` ran at all (not when the checkpoint was the end of training, or was
        written as early stopping ended it).
    """
    planned = epochs * steps_per_epoch
    if not 0 <= recorder.step <= planned:
        raise ResumeMismatchError(
            f"{recorder.last_path}: the checkpoint is at step {recorder.step}, outside the "
            f"{planned} steps this run plans; it is not this run's (start over with "
            "--overwrite).")
    epoch, into = divmod(recorder.step, steps_per_epoch)
    if recorder.stopped or epoch >= epochs:
        return False
    if verbose == 1:  # fewlabels' own line per epoch; Keras's own lines are verbose=2
        callbacks = [*callbacks[:-1], EpochLine(epochs), callbacks[-1]]
    verbose = 2 if verbose == 2 else 0
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
