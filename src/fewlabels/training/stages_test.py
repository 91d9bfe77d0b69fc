"""One checkpoint path for every fit: a run of stages and its journal."""

import keras
import numpy as np
import pytest

from fewlabels.errors import ResumeMismatchError
from fewlabels.training.checkpoint import CheckpointPolicy
from fewlabels.training.stages import StageCheckpoints, StageJournal


class Journal(StageJournal):
    """A journal with state of its own, arrays included."""

    def __init__(self) -> None:
        super().__init__("first")
        self.kept = np.zeros(3, np.float32)

    def get_state(self) -> dict:
        return {**super().get_state(), "arrays": [self.kept]}

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.kept = state["arrays"][0]


def _model():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile("sgd", "mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _stop_in_second_stage(folder) -> None:
    """Stage `first` finishes; stage `second` writes a checkpoint at its step 4."""
    stages = StageCheckpoints(CheckpointPolicy(folder), Journal(), {"data": "abc"})
    first = stages.recorder(_model(), {}, {"planned_steps": 10})
    first.step = 10
    first.save(mid_epoch=False)
    stages.stage_done(first)
    stages.journal.stage, stages.journal.kept = "second", np.arange(3, dtype=np.float32)
    second = stages.recorder(_model(), {}, {"planned_steps": 7})
    second.step = 4
    second.save(mid_epoch=True)


def test_a_run_resumes_in_the_stage_it_was_in_with_its_journal_and_numbering(tmp_path):
    _stop_in_second_stage(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # one store, numbered across stages
        "ckpt-0000000010.npz", "ckpt-0000000014.npz"]
    stages = StageCheckpoints(CheckpointPolicy(tmp_path, resume=True), Journal(),
                              {"data": "abc"})
    assert stages.resuming and stages.journal.stage == "second"
    np.testing.assert_array_equal(stages.journal.kept, [0, 1, 2])
    assert stages.journal.steps_done == 10 and stages.resumed("planned_steps") == 7
    recorder = stages.recorder(_model(), {}, {"planned_steps": 7})
    assert recorder.step == 4 and recorder.offset == 10 and not stages.resuming


def test_a_changed_run_or_stage_is_refused_naming_the_change(tmp_path):
    _stop_in_second_stage(tmp_path)
    with pytest.raises(ResumeMismatchError, match=r"data \('abc' -> 'xyz'\)"):
        StageCheckpoints(CheckpointPolicy(tmp_path, resume=True), Journal(), {"data": "xyz"})
    stages = StageCheckpoints(CheckpointPolicy(tmp_path, resume=True), Journal(),
                              {"data": "abc"})
    with pytest.raises(ResumeMismatchError, match=r"planned_steps: 7 -> 8"):
        stages.recorder(_model(), {}, {"planned_steps": 8})


def test_without_a_policy_nothing_is_written_and_nothing_resumes(tmp_path):
    stages = StageCheckpoints(None, StageJournal(), {})
    recorder = stages.recorder(_model(), {}, {})
    recorder.save(mid_epoch=False)
    assert recorder.store is None and not stages.resuming and stages.resumed("x") is None
