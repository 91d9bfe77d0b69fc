"""Keras plumbing shared by the estimators: seeding, one training stage, prediction, saving."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from fewlabels.errors import InputError, StorageError

PREDICT_BATCH_SIZE = 1024
# A Keras epoch of a training stage runs at least this many optimizer steps: on a small table
# one pass is a step or two, and the per-epoch work (a callback round, validation) would cost
# ten times the step. Epochs, patience and the best epoch still count passes over the data.
MIN_EPOCH_STEPS = 16


class _QuietRetracing(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" warning.

    Self-training trains a fresh model each round, and each new model traces its own step
    function, which is what this warning counts: expected here, and alarming to users.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def quiet_retracing() -> None:
    """Install the `_QuietRetracing` filter on TensorFlow's logger (once), at training time."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _QuietRetracing) for f in logger.filters):
        logger.addFilter(_QuietRetracing())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend (`keras.utils.set_random_seed`).

    Args:
        seed: the seed.
    """
    keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def op_determinism(enabled: bool):
    """TensorFlow's op determinism on or off for one fit, then as it was before.

    TensorFlow switches it for the whole process; a fit that left it on would make every
    later fit deterministic (and rule XLA out), whatever that fit asked for.

    Args:
        enabled: whether the same seed must give the same weights (at a small cost in
            speed; Keras then runs without XLA).

    Example:
    ```python
    with op_determinism(estimator.deterministic):
        model.fit(...)
    ```
    """
    if keras.backend.backend() != "tensorflow":
        yield
        return
    from tensorflow.python.framework import config as tf_config

    before = tf_config.is_op_determinism_enabled()
    tf_config.enable_op_determinism() if enabled else tf_config.disable_op_determinism()
    try:
        yield
    finally:
        tf_config.enable_op_determinism() if before else tf_config.disable_op_determinism()


class ValidationLoss(keras.callbacks.Callback):
    """Put `val_loss` and `val_accuracy` into each epoch's logs, from one compiled forward pass.

    Keras's own `validation_data` builds a new evaluation iterator every epoch, and an eager
    forward pass costs about 15 ms; on the small validation sets of few-label learning either
    costs more than the epoch itself. This one runs the model's compiled `predict_on_batch`
    and Keras's categorical cross-entropy formula (probabilities clipped to [1e-7, 1 - 1e-7])
    in NumPy. It must come before callbacks that read `val_loss` (early stopping).
    """

    def __init__(self, x: np.ndarray, targets: np.ndarray) -> None:
        super().__init__()
        self.x = x
        self.targets = np.asarray(targets, dtype=np.float64)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from fewlabels.training.distribute import replicated

        proba = np.asarray(keras.ops.convert_to_numpy(self.model(self.x, training=False))
                           if replicated() else self.model.predict_on_batch(self.x),
                           dtype=np.float64)
        if logs is not None:
            clipped = np.clip(proba / proba.sum(axis=1, keepdims=True), 1e-7, 1 - 1e-7)
            logs["val_loss"] = float(np.mean(-np.sum(self.targets * np.log(clipped), axis=1)))
            logs["val_accuracy"] = float(np.mean(proba.argmax(1) == self.targets.argmax(1)))


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's `EarlyStopping`, whose state (and best weights) a checkpoint can carry."""

    pending: dict | None = None

    def get_state(self) -> dict:
        """`wait`, `best`, `best_epoch`, `stopped_epoch`, and the best weights as arrays."""
        best = None if self.best is None else float(self.best)
        return {"wait": int(self.wait), "best": best, "best_epoch": int(self.best_epoch),
                "stopped_epoch": int(self.stopped_epoch),
                "arrays": list(self.best_weights or [])}

    def set_state(self, state: dict) -> None:
        """Restore `get_state()`'s record; applied after Keras's `on_train_begin` reset."""
        self.pending = dict(state)
        self._apply()

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)
        self._apply()

    def _apply(self) -> None:
        if self.pending is None:
            return
        state = self.pending
        self.wait, self.best_epoch = state["wait"], state["best_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        self.best = state["best"]
        arrays = state.get("arrays") or []
        self.best_weights = [np.asarray(a) for a in arrays] if arrays else None

    def restore_best(self) -> None:
        """Set the model to the best epoch's weights (what `on_train_end` does)."""
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def train_stage(
    model: keras.Model,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    learning_rate: float,
    batch_size: int,
    epochs: int,
    patience: int,
    min_steps: int = 0,
    augment: keras.Layer | None = None,
    seed: int = 0,
    verbose: int | str = 0,
    checkpoint=None,
) -> dict:
    """Compile `model` with a fresh Adam optimizer and fit it with early stopping.

    Early stopping watches the validation loss (the training loss when there is no validation
    data) and restores the best epoch's weights at the end. It starts watching only after
    `min_steps` optimizer steps: with a handful of validation rows, the validation loss often
    bottoms out within a few epochs, long before the model has learned what it can.

    Batch `step` is a function of `(seed, step)` (`fewlabels.stepwise`): each pass visits
    the rows in a new seeded order, and the augmentation of a batch is seeded by its step.
    Each Keras epoch is one compiled call (`steps_per_execution`; docs/benchmark-speed.md)
    of at least `MIN_EPOCH_STEPS` steps: on a small table, several passes over the data.

    Args:
        model: the model to train (it is trained in place).
        x, targets: training features and one-hot (or soft) targets, `(n, n_classes)`.
        sample_weight: per-row weights, or None.
        validation: `(x_val, targets_val)`, or None.
        learning_rate, batch_size: Adam's learning rate, and the batch size.
        epochs, patience: the most passes over the data; passes without improvement before
            stopping (both rounded to whole Keras epochs).
        min_steps: optimizer steps before early stopping may pick an epoch or stop.
        augment: a policy (`fewlabels.views.augment.build_policy`) applied to each batch in
            the stream: new transforms every epoch, the same ones for the same seed.
        seed, verbose: seeds the order and the augmentation; 0 quiet, 1 one line for the
            stage, 2 Keras's own line per epoch.
        checkpoint: the run's `fewlabels.training.stages.StageCheckpoints`, or None.

    Returns:
        A record: `epochs` (passes) run, `best_epoch` (1-based, in passes),
        `passes_per_epoch`, `wall_s` and the Keras `history` (one entry per Keras epoch).
    """
    from fewlabels.stepwise import indexed_stream
    from fewlabels.training.distribute import steps_per_call
    from fewlabels.training.recorder import fit_resumable

    quiet_retracing()
    per_pass = math.ceil(len(x) / batch_size)
    passes = max(1, min(epochs, MIN_EPOCH_STEPS // per_pass))  # passes per Keras epoch
    steps = per_pass * passes
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        steps_per_execution=steps_per_call(steps),
    )
    model.optimizer.build(model.trainable_variables)
    make_batch = _batches(x, targets, sample_weight, batch_size, augment, seed)
    callbacks, stopper, recorder = _callbacks(model, validation, _whole(patience, passes),
                                              math.ceil(min_steps / steps), checkpoint)
    start = time.perf_counter()
    ran = fit_resumable(model, lambda step: indexed_stream(step, make_batch),
                        recorder=recorder, epochs=_whole(epochs, passes),
                        steps_per_epoch=steps,
                        callbacks=callbacks, verbose=2 if verbose == 2 else 0)
    if not ran:  # resumed at the checkpoint that ended the stage: what on_train_end does
        stopper.set_model(model)
        stopper.restore_best()
    if checkpoint is not None:
        checkpoint.stage_done(recorder)
    record = _stage_record(recorder, stopper, time.perf_counter() - start, passes)
    if verbose == 1:  # one line per stage (a stage has hundreds of short epochs)
        _say_stage(record)
    return record


def _say_stage(record: dict) -> None:
    """The stage's line: passes run, the best one, its losses and the wall time."""
    best = record["best_epoch"] // record["passes_per_epoch"]  # (Keras epochs, 1-based)
    shown = {k: v[best - 1] for k, v in record["history"].items()
             if k in ("loss", "val_loss", "val_accuracy") and len(v) >= best}
    print(f"  {record['epochs']} epochs, best {record['best_epoch']}: "
          + "  ".join(f"{k} {v:.4f}" for k, v in shown.items())
          + f"  ({record['wall_s']:.1f} s)", flush=True)


def _whole(passes: int, per_epoch: int) -> int:
    """`passes` over the data in whole Keras epochs of `per_epoch` passes (at least one)."""
    return max(1, round(passes / per_epoch))


def _callbacks(model, validation, patience: int, start_epoch: int, checkpoint):
    """Validation loss, early stopping from `start_epoch`, and the recorder (last)."""
    from fewlabels.training.checkpoint import state_variables
    from fewlabels.training.recorder import TrainingRecorder

    has_val = validation is not None and len(validation[0]) > 0
    callbacks: list = [ValidationLoss(*validation)] if has_val else []
    stopper = ResumableEarlyStopping(monitor="val_loss" if has_val else "loss",
                                     patience=patience, restore_best_weights=True,
                                     start_from_epoch=start_epoch)
    callbacks.append(stopper)
    if checkpoint is not None:
        recorder = checkpoint.recorder(model, {"stopper": stopper})
    else:
        recorder = TrainingRecorder(state_variables(model)[0])
    callbacks.append(recorder)
    return callbacks, stopper, recorder


def _batches(x, targets, sample_weight, batch_size: int, augment, seed: int):
    """`make_batch(step)`: the rows, targets and weights of a step, augmented if asked."""
    import tensorflow as tf

    from fewlabels.stepwise import batch_indices, reseed

    if sample_weight is None:
        sample_weight = np.ones(len(x), dtype=np.float32)
    xs = tf.constant(x.astype(np.float32))
    ts, ws = tf.constant(targets.astype(np.float32)), tf.constant(sample_weight.astype(np.float32))

    def make_batch(step):
        rows = batch_indices(step, batch_size, len(x), seed)
        xb = tf.gather(xs, rows)
        if augment is not None:
            reseed(augment, seed, step)
            xb = augment(xb, training=True)
        return xb, tf.gather(ts, rows), tf.gather(ws, rows)

    return make_batch


def _stage_record(recorder, stopper, wall: float, passes: int) -> dict:
    """What a stage did: passes over the data (`epochs`), the best one (1-based), wall time,
    and the Keras history (one entry per Keras epoch of `passes_per_epoch` passes)."""
    logs = {k: [e.get(k, float("nan")) for e in recorder.history]
            for k in (recorder.history[-1] if recorder.history else {})}
    epochs_run = len(recorder.history)
    # Early stopping never watched (min_steps reaches past the last epoch): the final
    # weights are kept, so the last epoch is the one that counts.
    best = stopper.best_epoch + 1 if stopper.best_weights is not None else epochs_run
    return {
        "epochs": epochs_run * passes,
        "best_epoch": best * passes,
        "passes_per_epoch": passes,
        "wall_s": round(wall, 3),
        "history": logs,
    }


def predict_proba(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Class probabilities for `x`, in batches, as float64 rows that sum to 1."""
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]))
    proba = batched_outputs(model, x).astype(np.float64)
    return proba / proba.sum(axis=1, keepdims=True)


def batched_outputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """`model`'s outputs for `x` (at least one row), batch by batch, each batch split across
    the devices in scope (`batch_predictor`)."""
    # A direct call per batch, not `model.predict`: pools of changing sizes would retrace
    # predict's compiled function every round. Images go in smaller batches than rows.
    # Images count on a progress bar (`fewlabels.progress`): labelling a large pool is slow.
    from fewlabels.progress import counted
    from fewlabels.training.distribute import batch_predictor

    images = x.ndim > 2
    batch = max(1, PREDICT_BATCH_SIZE // 4) if images else PREDICT_BATCH_SIZE
    starts = range(0, len(x), batch)
    if images:
        starts = counted(starts, len(x), f"Predicting {len(x)} images",
                         size=lambda i: min(batch, len(x) - i))
    predict = batch_predictor(model)  # each device (and worker) its slice of a batch
    return np.concatenate([predict(x[i : i + batch]) for i in starts])


def copy_model(model: keras.Model) -> keras.Model:
    """A new model with the same architecture and a copy of the weights.

    Adapted preprocessing layers (`Normalization`) keep their statistics in variables but
    read them through tensors that only `finalize_state()` refreshes; `set_weights` does not
    call it, so this does.
    """
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for layer in clone._flatten_layers():
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()
    return clone


def save_model(model: keras.Model, path: Path) -> None:
    """Save `model` as a `.keras` file, atomically and durably.

    Keras writes into a fresh temporary file that this function creates exclusively (a
    random name, `O_EXCL`), so a link planted in the folder cannot redirect the write; the
    file is synced, then renamed over `path`. A failure leaves no temporary file behind.

    Raises:
        StorageError: the write failed (a full disk, permissions), naming the file.
    """
    import tempfile

    from fewlabels.files import default_file_mode

    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.keras")
    os.fchmod(fd, default_file_mode())
    os.close(fd)
    tmp = Path(name)
    try:
        model.save(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise StorageError(f"{path}: could not write the model ({err.strerror or err}).") \
            from err
    finally:
        tmp.unlink(missing_ok=True)


def load_model(path: Path, *, trust: bool = False) -> keras.Model:
    """Load a `.keras` model: inspected first (`fewlabels.model_files`), then read by Keras
    with `safe_mode=True` (no arbitrary code, no Lambda).

    Args:
        path: the `.keras` file.
        trust: the user vouches for the file (`--trust-model`): skip the inspection and
            Keras's safe mode. Never the default.
    """
    from fewlabels.model_files import check_model_file
    from fewlabels.models import kernels  # noqa: F401  (registers the ensemble's layers)

    if not path.is_file():
        raise InputError(f"{path}: no model file here.")
    check_model_file(path, trust=trust)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=not trust)
    except Exception as err:  # Keras raises many types; report them as one clear message.
        raise InputError(f"{path}: could not load the model safely: {err}") from err
