"""Checkpoints and resume, in one place for every fit: a run is a sequence of stages.

Consistency training is a run of one stage; self-training's rounds and teacher-student's
teacher and students are runs of several. The run keeps what it has done so far in a
journal (`StageJournal`, or a subclass with the fit's own state): the stage in progress,
its phase, and the optimizer steps of the finished stages. Every checkpoint holds the
journal, so a run resumed inside stage k knows the stages before it. `StageCheckpoints`
checks that the resumed run is the checkpointed one (the run's fingerprint), hands each
stage its recorder (restored from the checkpoint when the run resumes in that stage, its
own fingerprint checked then), and numbers the checkpoints across stages.

Example:
```python
stages = StageCheckpoints(CheckpointPolicy("run/checkpoints"), StageJournal(), fingerprint)
recorder = stages.recorder(model, {"collapse_monitor": monitor}, {"algorithm": "fixmatch"})
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fewlabels.training.checkpoint import CheckpointPolicy
    from fewlabels.training.recorder import TrainingRecorder

STAGE_KEYS = ("architecture", "stage", "phase", "stage_fingerprint")
"""Fingerprint keys of the stage a checkpoint was written in (checked when that stage
resumes), as opposed to the run's (checked when the run starts)."""


class StageJournal:
    """What a run has done so far: `stage` in progress (a name), its `phase` (a transfer
    model's second phase), and `steps_done`, the optimizer steps of the finished stages.
    A fit with more state subclasses it and extends `get_state`/`set_state` (a state's
    NumPy arrays go under `"arrays"`, a list)."""

    def __init__(self, stage: str = "train") -> None:
        self.stage, self.phase, self.steps_done = stage, 0, 0

    def get_state(self) -> dict[str, Any]:
        return {"stage": self.stage, "phase": self.phase, "steps_done": self.steps_done}

    def set_state(self, state: dict[str, Any]) -> None:
        self.stage, self.phase = state["stage"], state["phase"]
        self.steps_done = state["steps_done"]


class StageCheckpoints:
    """Checkpoints of a run: one store, one journal, one recorder per stage.

    Args:
        policy: the checkpoint policy, or None: no checkpoints (NaN and SIGTERM still stop
            the run).
        journal: the run's journal (saved in every checkpoint; restored here on resume).
        fingerprint: what defines the run (each stage adds its own in `recorder`).

    Raises:
        CheckpointError: resuming without a usable checkpoint or with a changed run; or
            not resuming while the folder already holds checkpoints.
    """

    def __init__(self, policy: CheckpointPolicy | None, journal, fingerprint: dict) -> None:
        from fewlabels.training.checkpoint import CheckpointStore, check_fingerprint
        from fewlabels.training.recorder import refuse_earlier_run, stateful_states

        self.policy = policy
        self.journal = journal
        self.fingerprint = fingerprint
        self.store = None if policy is None else CheckpointStore(policy.directory, policy.keep,
                                                                 policy.write)
        self.pending = None
        if policy is not None and policy.resume:
            self.pending = self.store.latest()
            arrays, meta, _ = self.pending
            check_fingerprint({k: v for k, v in meta.get("fingerprint", {}).items()
                               if k not in STAGE_KEYS}, fingerprint)
            journal.set_state(stateful_states(arrays, meta)["journal"])
        elif self.store is not None and self.store.write:
            refuse_earlier_run(self.store)

    @property
    def resuming(self) -> bool:
        """Whether a stage of this run is still to continue from a checkpoint."""
        return self.pending is not None

    def resumed(self, key: str) -> Any:
        """`key` of the stage fingerprint the run resumes in (None when not resuming): a
        stage sized by a wall-clock budget keeps the step count it planned."""
        if self.pending is None:
            return None
        return self.pending[1].get("fingerprint", {}).get("stage_fingerprint", {}).get(key)

    def recorder(self, model, stateful: dict, fingerprint: dict | None = None
                 ) -> TrainingRecorder:
        """The recorder of the stage starting now, restored if the run resumes in it.

        Args:
            model: the compiled model, optimizer built.
            stateful: the stage's objects with `get_state`/`set_state` to checkpoint (the
                journal is added).
            fingerprint: what defines this stage beyond the run (its algorithm, its planned
                steps, ...), checked when it resumes.
        """
        from fewlabels.training.checkpoint import architecture_fingerprint, state_variables
        from fewlabels.training.recorder import TrainingRecorder

        variables, n_metrics = state_variables(model)
        policy = self.policy
        recorder = TrainingRecorder(
            variables, store=self.store,
            fingerprint={**self.fingerprint, "stage": self.journal.stage,
                         "phase": self.journal.phase,
                         "stage_fingerprint": fingerprint or {},
                         "architecture": architecture_fingerprint(variables)},
            every_steps=None if policy is None else policy.every_steps,
            every_seconds=None if policy is None else policy.every_seconds,
            stateful={**stateful, "journal": self.journal},
            offset=self.journal.steps_done, n_metric_variables=n_metrics)
        if self.pending is not None:
            recorder.resume_from(*self.pending)
            self.pending = None
        return recorder

    def stage_done(self, recorder: TrainingRecorder) -> None:
        """Number the next stage's checkpoints after this one's."""
        self.journal.steps_done = recorder.offset + recorder.step
