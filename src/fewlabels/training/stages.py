"""Checkpoints of a run made of several training stages (self-training's rounds).

The run keeps what it has done so far in a journal: any object with `stage`, `phase` and
`steps_done` attributes and `get_state`/`set_state` methods. Every checkpoint holds the
journal, so a run resumed inside stage k knows the rounds before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fewlabels.training.checkpoint import CheckpointPolicy
    from fewlabels.training.recorder import TrainingRecorder


class StageCheckpoints:
    """Checkpoints of a multi-stage run: one recorder per stage, one store, one journal.

    Args:
        policy: the checkpoint policy.
        journal: the run's journal (saved in every checkpoint).
        fingerprint: what defines the run.
    """

    def __init__(self, policy: CheckpointPolicy, journal, fingerprint: dict) -> None:
        from fewlabels.training.checkpoint import CheckpointStore, check_fingerprint
        from fewlabels.training.recorder import refuse_earlier_run, stateful_states

        self.policy = policy
        self.journal = journal
        self.fingerprint = fingerprint
        self.store = CheckpointStore(policy.directory, policy.keep)
        self.pending = None
        if policy.resume:
            self.pending = self.store.latest()
            arrays, meta, _ = self.pending
            check_fingerprint({k: v for k, v in meta.get("fingerprint", {}).items()
                               if k not in ("architecture", "stage", "phase")}, fingerprint)
            journal.set_state(stateful_states(arrays, meta)["journal"])
        else:
            refuse_earlier_run(self.store)

    @property
    def resuming(self) -> bool:
        """Whether this run continues a checkpoint."""
        return self.pending is not None

    def recorder(self, model, stopper) -> TrainingRecorder:
        """The recorder of the stage starting now (restored if the run resumes in it)."""
        from fewlabels.training.checkpoint import architecture_fingerprint, state_variables
        from fewlabels.training.recorder import TrainingRecorder

        variables, n_metrics = state_variables(model)
        recorder = TrainingRecorder(
            variables, store=self.store,
            fingerprint={**self.fingerprint, "stage": self.journal.stage,
                         "phase": self.journal.phase,
                         "architecture": architecture_fingerprint(variables)},
            every_steps=self.policy.every_steps, every_seconds=self.policy.every_seconds,
            stateful={"stopper": stopper, "journal": self.journal},
            offset=self.journal.steps_done, n_metric_variables=n_metrics)
        if self.pending is not None:
            recorder.resume_from(*self.pending)
            self.pending = None
        return recorder

    def stage_done(self, recorder: TrainingRecorder) -> None:
        """Number the next stage's checkpoints after this one's."""
        self.journal.steps_done = recorder.offset + recorder.step
