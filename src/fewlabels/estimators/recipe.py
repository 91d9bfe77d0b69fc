"""What a teacher-student run keeps of its stages: the plan of steps, a student's share of a
wall-clock budget, the journal of finished stages that every checkpoint holds, each stage's
record, and the final ensemble of two stages.

Example:
```python
plan_steps(6000, 0.5, 1, 100)          # [3000, 3000]: teacher, then one student
stage_budget(1800.0, 950.0, 1)         # 850.0 seconds for the last student
```
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from fewlabels.training.stages import StageJournal

if TYPE_CHECKING:
    from fewlabels.estimators.consistency import ConsistencyTraining


def plan_steps(steps: int, teacher_share: float, rounds: int, steps_per_epoch: int) -> list[int]:
    """The steps of each stage: the teacher's, then each student's, in whole epochs.

    The teacher gets `teacher_share` of `steps` and the students share the rest equally;
    every stage gets at least one epoch, and the last student whatever rounding left, so the
    stages add up to `steps` rounded up to whole epochs.

    Args:
        steps: the steps of the whole recipe.
        teacher_share: the teacher's share, in (0, 1).
        rounds: the number of students.
        steps_per_epoch: the epoch length every stage counts in.

    Returns:
        `[teacher steps, student 1 steps, ...]`.

    Example:
    ```python
    plan_steps(6000, 0.5, 1, 50)   # [3000, 3000]
    ```
    """
    epochs = max(rounds + 1, math.ceil(steps / steps_per_epoch))
    teacher = min(max(1, round(epochs * teacher_share)), epochs - rounds)
    each = (epochs - teacher) // rounds
    students = [each] * rounds
    students[-1] += epochs - teacher - each * rounds
    return [e * steps_per_epoch for e in (teacher, *students)]


class RecipeJournal(StageJournal):
    """What a teacher-student run has done so far (checkpointed with every stage): the
    stages finished, each as its fitted state and network weights, their records
    (`stages_`), and the seconds spent of a wall-clock budget."""

    def __init__(self) -> None:
        super().__init__("stage_0")
        self.finished: list[tuple[dict, list]] = []
        self.records: list[dict] = []
        self.spent = 0.0

    def finish(self, stage: ConsistencyTraining, record: dict, seconds: float) -> None:
        """Stage `len(finished)` is done: keep it, its record and the `seconds` it spent."""
        state = {**stage.fitted_state(), "seconds": seconds_of(stage)}
        self.finished.append((state, stage.model_.get_weights()))
        self.records.append(record)
        self.spent += seconds

    def get_state(self) -> dict:
        return {**super().get_state(), "states": [s for s, _ in self.finished],
                "counts": [len(w) for _, w in self.finished], "records": self.records,
                "spent": self.spent, "arrays": [a for _, w in self.finished for a in w]}

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        arrays, self.finished = list(state["arrays"]), []
        for saved, count in zip(state["states"], state["counts"], strict=True):
            self.finished.append((saved, arrays[:count]))
            arrays = arrays[count:]
        self.records[:] = state["records"]  # the list `stages_` is
        self.spent = state["spent"]


def stage_budget(budget_s: float, spent_s: float, stages_left: int) -> float:
    """A student's wall-clock budget: what is left of the recipe's, shared equally by the
    students still to train.

    Args:
        budget_s: the recipe's budget, in seconds.
        spent_s: the seconds spent so far: the teacher's training (not its first timing,
            which every method has outside its budget), the labelling, the earlier students'
            timing and training.
        stages_left: the students still to train, this one included.

    Returns:
        The student's seconds: at least a millisecond, so a recipe already past its budget
        trains one epoch per student rather than none.

    Example:
    ```python
    stage_budget(1800.0, 950.0, 1)   # 850.0
    ```
    """
    return max(1e-3, (budget_s - spent_s) / stages_left)


def spent_s(stage: ConsistencyTraining, resumed: bool) -> float:
    """The seconds a stage spent of a wall-clock budget: its training, and a student's
    timing; its whole budget when it resumed from a checkpoint (an earlier process's wall time
    is not recorded)."""
    if seconds_of(stage) is None:
        return 0.0
    if resumed:
        return seconds_of(stage)
    timing = stage.calibration_["wall_s"] if stage._timing_in_budget else 0.0
    return stage.wall_s_ + timing


def seconds_of(stage: ConsistencyTraining) -> float | None:
    """A stage's wall-clock budget in seconds (None: it has steps)."""
    return stage._spec("budget").seconds


def average_model(models: list):
    """A Keras model whose output is the mean of `models`' outputs (the same input).

    Args:
        models: networks with one input of the same shape and the same classes.

    Returns:
        A functional `keras.Model`, saved and loaded with `safe_mode` like any other.
    """
    import keras

    inputs = keras.Input(models[0].input_shape[1:])
    for i, model in enumerate(models):
        model.name = f"member_{i}"
    outputs = keras.layers.Average(name="average")([m(inputs) for m in models])
    return keras.Model(inputs, outputs, name="average_of_members")


def stage_record(role: str, stage: ConsistencyTraining, validation) -> dict:
    """What a stage did: role, algorithm, steps, wall time, final validation accuracy."""
    record = {"stage": role, "method": stage.method, "steps": stage.n_steps_,
              "wall_s": stage.wall_s_}
    if stage.calibration_ is not None:  # the steps were sized to a wall-clock budget
        record.update(budget_s=round(seconds_of(stage), 3), calibration=stage.calibration_)
    if validation is not None:
        record["val_accuracy"] = round(float(np.mean(
            stage.predict_proba(validation[0]).argmax(1) == validation[1])), 6)
    return record


def pool_selection(proba: np.ndarray, threshold: float, prior: np.ndarray | None) -> np.ndarray:
    """The pool images the students learn: those whose top probability reaches `threshold`,
    or as many shared among classes by `prior` (`selection.select_pseudo_labels`).

    Args:
        proba: `(n_pool, n_classes)`, the teacher's probabilities.
        threshold: the confidence that sets which images (or, with `prior`, how many).
        prior: the labeled class frequencies, or None for the threshold alone.

    Returns:
        Sorted row indices into `proba`.

    Example:
    ```python
    pool_selection(np.array([[0.9, 0.1], [0.85, 0.15], [0.4, 0.6]]), 0.8, np.array([.5, .5]))
    # -> array([0, 2]): two images pass 0.8; each class gets one, its most confident
    ```
    """
    from fewlabels.estimators.selection import select_pseudo_labels

    return select_pseudo_labels(proba, criterion="threshold", threshold=threshold, k_best=1,
                                prior=prior)


def labels_record(proba: np.ndarray, hidden, rows: np.ndarray) -> dict:
    """The labels a stage gave the pool: how many it kept (`rows`), and how many of the
    labels, and of the kept ones, are right where hidden labels are known."""
    kept = np.zeros(len(proba), dtype=bool)
    kept[rows] = True
    record = {"labelled": len(proba), "kept": int(kept.sum()),
              "mean_confidence": round(float(proba.max(axis=1).mean()), 6)}
    if hidden is not None and np.any(hidden >= 0):
        known = hidden >= 0
        right = proba.argmax(axis=1) == hidden
        record["accuracy"] = round(float(np.mean(right[known])), 6)
        both = known & kept
        record["kept_accuracy"] = round(float(np.mean(right[both])), 6) if both.any() else None
    return record


def joined_history(histories: list[dict]) -> dict:
    """The stages' per-epoch histories one after the other, with a `stage` column (0: the
    teacher); a metric a stage did not log is NaN there."""
    keys = sorted({k for h in histories for k in h})
    joined: dict[str, list] = {k: [] for k in [*keys, "stage"]}
    for i, h in enumerate(histories):
        n = len(next(iter(h.values()), []))
        for k in keys:
            joined[k].extend(h.get(k, [float("nan")] * n))
        joined["stage"].extend([float(i)] * n)
    return joined
