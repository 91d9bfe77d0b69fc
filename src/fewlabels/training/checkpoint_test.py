"""Checkpoint files: atomic writes, verification, fallback, refusal, full disk; and exact
resume of consistency training (docs/reliability.md)."""

import errno
import shutil
import warnings

import numpy as np
import pytest

from fewlabels.data.builtin import load_builtin
from fewlabels.data.images import digits_as_images
from fewlabels.errors import (
    CheckpointError,
    FewLabelsWarning,
    InputError,
    NonFiniteLossError,
    ResumeMismatchError,
    TrainingInterruptedError,
)
from fewlabels.estimators.consistency import ConsistencyTraining
from fewlabels.training.checkpoint import CheckpointPolicy, CheckpointStore, check_fingerprint
from fewlabels.training.recorder import TrainingRecorder


def arrays(k):
    return [np.full((3, 2), k, np.float32), np.arange(4, dtype=np.int64) + k]


def test_a_checkpoint_holds_arrays_and_metadata_as_one_verified_file_and_keeps_the_last_k(
        tmp_path):
    store = CheckpointStore(tmp_path, keep=2)
    for step in (1, 2, 3):
        store.save(step, arrays(step), {"note": f"step {step}"})
    assert [p.name for p in store.paths()] == ["ckpt-0000000002.npz", "ckpt-0000000003.npz"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    # A kill during a write leaves only a temporary file, which is never read.
    (tmp_path / ".ckpt-0000000009.npz.x1y2.tmp").write_bytes(b"PK half a checkpoint")
    got, meta, path = store.latest()
    assert meta["step"] == 3 and meta["note"] == "step 3" and path.name.endswith("3.npz")
    for a, b in zip(got, arrays(3), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage"])
def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one_and_says_so(
        tmp_path, damage):
    store = CheckpointStore(tmp_path, keep=3)
    store.save(1, arrays(1), {})
    newest = store.save(2, arrays(2), {})
    data = newest.read_bytes()
    if damage == "truncate":  # a kill during a (non-atomic) write
        newest.write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":  # bit rot inside an array
        i = data.index(np.full((3, 2), 2, np.float32).tobytes())
        newest.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    else:
        newest.write_bytes(b"not a checkpoint")
    with pytest.warns(FewLabelsWarning, match=r"skipping corrupt checkpoint.*ckpt-0000000002"
                                              r".*Resuming from ckpt-0000000001\.npz"):
        got, meta, _ = store.latest()
    assert meta["step"] == 1
    np.testing.assert_array_equal(got[0], arrays(1)[0])


@pytest.mark.parametrize("planted", ["fifo", "link_to_dev_zero"])
def test_a_fifo_or_a_link_among_checkpoints_is_skipped_unopened(tmp_path, planted):
    import os
    import signal

    store = CheckpointStore(tmp_path, keep=3)
    store.save(1, arrays(1), {})
    newest = tmp_path / "ckpt-0000000002.npz"
    if planted == "fifo":
        os.mkfifo(newest)  # opening it would block the resume forever
    else:
        newest.symlink_to("/dev/zero")  # reading it would never end
    signal.alarm(20)  # a hang fails the test instead of stalling the suite
    try:
        with pytest.warns(FewLabelsWarning, match=r"ckpt-0000000002\.npz: not a regular file"):
            _, meta, _ = store.latest()
    finally:
        signal.alarm(0)
    assert meta["step"] == 1


def test_no_usable_checkpoint_is_an_explicit_error_never_a_fresh_start(tmp_path):
    store = CheckpointStore(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        store.latest()
    store.save(1, arrays(1), {}).write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"no usable checkpoint.*Refusing to start over"):
        store.latest()


def test_a_full_disk_is_a_clear_error_and_the_previous_checkpoint_stays_intact(
        tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save(1, arrays(1), {})

    def full_disk(f, **payload):
        f.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(CheckpointError, match=r"No space left on device; the previous "
                                              r"checkpoint ckpt-0000000001\.npz is intact"):
        store.save(2, arrays(2), {})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-0000000001.npz"]  # temp removed
    assert store.latest()[1]["step"] == 1


def test_resuming_a_changed_run_is_refused_naming_what_changed():
    saved = {"classes": ["a", "b"], "algorithm": {"method": "fixmatch", "threshold": 0.95},
             "data": "0" * 64}
    check_fingerprint(saved, dict(saved))
    with pytest.raises(ResumeMismatchError) as err:
        check_fingerprint(saved, {**saved, "classes": ["a", "b", "c"],
                                  "algorithm": {"method": "flexmatch", "threshold": 0.95},
                                  "data": "1" * 64})
    message = str(err.value)
    assert "classes (['a', 'b'] -> ['a', 'b', 'c'])" in message
    assert "algorithm (method: 'fixmatch' -> 'flexmatch')" in message
    assert "data (fingerprint 000000000000 -> 111111111111)" in message


# -- consistency training ------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    table = load_builtin("digits")
    x, y = table.x, table.y
    x, y = digits_as_images(x)[:240], y[:240].copy()
    y[40:] = -1
    return x, y


PARAMS = dict(method="flexmatch", steps=12, steps_per_epoch=5, batch_size=8, uratio=2, seed=1,
              validation_fraction=0.25)


def stop_at(monkeypatch, step, reason="SIGTERM"):
    """Make the recorder see a stop request at `step`, as a SIGTERM handler would."""
    original = TrainingRecorder.on_train_batch_end

    def patched(self, batch, logs=None):
        if self.epoch_start + batch + 1 == step:
            self.request_stop(reason)
        return original(self, batch, logs)

    monkeypatch.setattr(TrainingRecorder, "on_train_batch_end", patched)


def state(est):
    return [*est.model_.get_weights()]


def test_a_run_stopped_mid_epoch_and_resumed_equals_the_uninterrupted_run_bit_for_bit(
        tmp_path, digits, monkeypatch):
    x, y = digits
    whole = ConsistencyTraining(**PARAMS).fit(
        x, y, checkpoint=CheckpointPolicy(tmp_path / "whole", every_steps=2))
    with monkeypatch.context() as m:
        stop_at(m, 7)  # inside the second epoch (steps 6-10)
        with pytest.raises(TrainingInterruptedError, match="stopped by SIGTERM at step 7"):
            ConsistencyTraining(**PARAMS).fit(
                x, y, checkpoint=CheckpointPolicy(tmp_path / "cut", every_steps=2))
    assert (tmp_path / "cut" / "ckpt-0000000007.npz").is_file()
    with pytest.raises(ResumeMismatchError, match="holds checkpoints of an earlier run"):
        ConsistencyTraining(**PARAMS).fit(x, y, checkpoint=CheckpointPolicy(tmp_path / "cut"))
    resumed = ConsistencyTraining(**PARAMS).fit(
        x, y, checkpoint=CheckpointPolicy(tmp_path / "cut", resume=True, every_steps=2))
    for a, b in zip(state(whole), state(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.history_ == whole.history_
    assert resumed.warnings_ == whole.warnings_
    # Everything else a checkpoint holds (optimizer slots, EMA, FlexMatch's remembered
    # predictions, step counters) matches too: the final checkpoints are identical.
    final_whole = CheckpointStore(tmp_path / "whole").latest()
    final_cut = CheckpointStore(tmp_path / "cut").latest()
    assert final_whole[1]["step"] == final_cut[1]["step"] == 15
    for a, b in zip(final_whole[0], final_cut[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_refuses_another_algorithm_or_other_data_naming_it(tmp_path, digits,
                                                                   monkeypatch):
    x, y = digits
    with monkeypatch.context() as m:
        stop_at(m, 3)
        with pytest.raises(TrainingInterruptedError):
            ConsistencyTraining(**PARAMS).fit(x, y, checkpoint=CheckpointPolicy(tmp_path))
    resume = CheckpointPolicy(tmp_path, resume=True)
    with pytest.raises(ResumeMismatchError, match=r"params \(.*method: 'flexmatch' -> 'fixmatch'"):
        ConsistencyTraining(**{**PARAMS, "method": "fixmatch"}).fit(x, y, checkpoint=resume)
    y2 = y.copy()
    y2[5] = (y2[5] + 1) % 10
    with pytest.raises(ResumeMismatchError, match="data \\(fingerprint"):
        ConsistencyTraining(**PARAMS).fit(x, y2, checkpoint=resume)
    with pytest.raises(ResumeMismatchError, match="architecture"):
        ConsistencyTraining(**{**PARAMS, "model": "mlp"}).fit(x.reshape(len(x), -1), y,
                                                              checkpoint=resume)


def test_a_nan_loss_stops_the_run_naming_the_step_and_keeping_the_last_checkpoint(
        tmp_path, digits):
    x, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NonFiniteLossError, match=r"at step \d+ .*the last good checkpoint "
                                                     r"is .*ckpt-\d+\.npz"):
            ConsistencyTraining(**{**PARAMS, "learning_rate": 1e30, "steps": 40}).fit(
                x, y, checkpoint=CheckpointPolicy(tmp_path, every_steps=1))
    _, meta, _ = CheckpointStore(tmp_path).latest()  # intact and loadable
    assert meta["step"] >= 1


def test_a_checkpoint_policy_is_validated_at_the_door(tmp_path):
    with pytest.raises(InputError, match="every_steps must be an integer >= 1; got 0"):
        CheckpointPolicy(tmp_path, every_steps=0)
    with pytest.raises(InputError, match="keep must be an integer >= 1"):
        CheckpointPolicy(tmp_path, keep=0)
    shutil.rmtree(tmp_path)


def test_every_remaining_checkpoint_refusal_names_its_cause(tmp_path):
    import json as _json

    import keras

    from fewlabels.training.checkpoint import restore

    with pytest.raises(InputError, match="every_seconds must be > 0; got 0"):
        CheckpointPolicy(tmp_path, every_seconds=0)
    store = CheckpointStore(tmp_path)
    path = store.save(1, arrays(1), {})
    with np.load(path) as data:
        payload = {k: data[k] for k in data.files}
    meta = _json.loads(bytes(payload["meta"]).decode())
    payload["meta"] = np.frombuffer(_json.dumps({**meta, "format": 99}).encode(), np.uint8)
    payload.pop("meta_sha256")  # as a future format without this checksum might
    np.savez(path, **payload)
    with pytest.raises(CheckpointError, match="unknown checkpoint format 99"):
        CheckpointStore.read(path)
    v = [keras.Variable(np.zeros((2, 2), "float32"))]
    with pytest.raises(CheckpointError, match="holds 2 variables but this model has 1"):
        restore(v, arrays(1), [["a", [3, 2], "float32"], ["b", [4], "int64"]])
    with pytest.raises(CheckpointError, match=r"variable a was \[3, 2\] float32 in the "
                                              r"checkpoint and is \[2, 2\] float32 now"):
        restore(v, arrays(1)[:1], [["a", [3, 2], "float32"]])


def test_single_bit_flips_anywhere_in_a_checkpoint_read_back_or_are_refused(tmp_path):
    """Every single-bit flip of a small checkpoint (about 10,000): each flipped file either
    reads back exactly (the flip hit bytes nothing reads) or raises CheckpointError; never
    another exception, never other data."""
    store = CheckpointStore(tmp_path / "good")
    store.save(7, arrays(3), {"fingerprint": {"data": "abc"}})
    original = store.paths()[-1].read_bytes()
    expected_arrays, expected_meta = CheckpointStore.read(store.paths()[-1])
    positions = range(len(original) * 8)
    outcomes = {"same": 0, "refused": 0}
    for bit in positions:
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path = tmp_path / "flipped.npz"
        path.write_bytes(bytes(flipped))
        try:
            got_arrays, got_meta = CheckpointStore.read(path)
        except CheckpointError:
            outcomes["refused"] += 1
            continue
        assert got_meta == expected_meta, f"bit {bit} changed the metadata"
        for got, want in zip(got_arrays, expected_arrays, strict=True):
            np.testing.assert_array_equal(got, want)
        outcomes["same"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == len(positions)


def test_a_flipped_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(1, arrays(1), {"n": 1})
    newest = store.save(2, arrays(2), {"n": 2})
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    with pytest.warns(FewLabelsWarning, match="skipping corrupt checkpoint"):
        _, meta, path = store.latest()
    assert meta["n"] == 1 and path.name == "ckpt-0000000001.npz"


def test_a_checkpoint_step_beyond_the_planned_steps_is_refused():
    from fewlabels.errors import ResumeMismatchError
    from fewlabels.training.recorder import TrainingRecorder, fit_resumable

    recorder = TrainingRecorder([], step=10**9)  # as a checkpoint of another run would set it
    with pytest.raises(ResumeMismatchError, match=r"at step 1000000000, outside the 40 steps"):
        fit_resumable(None, None, recorder=recorder, epochs=4, steps_per_epoch=10,
                      callbacks=[recorder])
