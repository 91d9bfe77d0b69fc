"""Steps that fill a wall-clock budget: a learning-rate schedule needs its length in advance.

Example:
```python
steps, record = steps_for_budget(probe_fit, budget_s=1800, steps_per_epoch=50)
```
"""

from __future__ import annotations

import time
from collections.abc import Callable

PROBE_EPOCHS = 3
"""The throwaway run's epochs: the first holds the compile, the others are timed."""


def steps_for_budget(probe_fit: Callable[[int], object], *, budget_s: float,
                     steps_per_epoch: int, count_timing: bool = False) -> tuple[int, dict]:
    """The whole epochs that fit in `budget_s`, timed on a throwaway run of three epochs.

    An epoch costs the mean of the throwaway run's later epochs (the first holds the
    compile), with whatever runs at its end (validation, logging), so the estimate is what
    an epoch of the real run costs. What the throwaway run spent beyond its epochs at that
    rate (building the model and its input pipeline, the compile) is the real run's
    overhead too, and comes out of `budget_s` before the epochs are counted.

    Args:
        probe_fit: fits a throwaway model for the given number of steps and returns it,
            fitted (it must have `epoch_wall_s_`, the wall time at each epoch's end).
        budget_s: the budget, in seconds.
        steps_per_epoch: the epoch length.
        count_timing: the timing's own wall time is spent from `budget_s` (a later stage
            of a recipe, whose budget is what is left of the recipe's), rather than
            before it (a run's first timing, which every method has).

    Returns:
        `(steps, record)`: the steps, a multiple of `steps_per_epoch` (at least one epoch),
        and `{"epoch_s", "overhead_s", "epochs", "wall_s"}` (`wall_s`: the timing's own).

    Example:
    ```python
    fit = lambda n: ConsistencyTraining.like(model, budget_s=None, steps=n).fit(x, y)
    steps, record = steps_for_budget(fit, budget_s=600, steps_per_epoch=50)
    ```
    """
    start = time.perf_counter()
    probe = probe_fit(PROBE_EPOCHS * steps_per_epoch)
    wall_s = time.perf_counter() - start
    ends = probe.epoch_wall_s_
    epoch_s = (ends[-1] - ends[0]) / (len(ends) - 1)
    overhead_s = max(0.0, wall_s - len(ends) * epoch_s)
    left = budget_s - overhead_s - (wall_s if count_timing else 0.0)
    epochs = max(1, int(left / max(epoch_s, 1e-6)))
    record = {"epoch_s": round(epoch_s, 4), "overhead_s": round(overhead_s, 3),
              "epochs": epochs, "wall_s": round(wall_s, 3)}
    return epochs * steps_per_epoch, record


def seconds_per_step(model, x, targets, *, batch_size: int, learning_rate: float,
                     steps: int = 3) -> float:
    """The wall time of one training step of a copy of `model` on batches of `x`: the mean
    of `steps` steps after one that compiles (the copy is thrown away; `model` is left as
    it is)."""
    import keras
    import numpy as np

    from fewlabels.training.stage import copy_model

    probe = copy_model(model)
    probe.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.CategoricalCrossentropy())
    rows = np.arange(batch_size) % len(x)
    batch, batch_targets = np.asarray(x[rows], dtype="float32"), targets[rows]
    probe.train_on_batch(batch, batch_targets)  # the compile
    start = time.perf_counter()
    for _ in range(steps):
        probe.train_on_batch(batch, batch_targets)
    return (time.perf_counter() - start) / steps


def plan_stages(stages: list[tuple[str, int]], *, budget_s: float, step_s: float,
                batch_size: int, min_epochs: int = 3) -> dict:
    """Share a wall-clock budget among training stages by their rows, as whole passes.

    Each stage's share of `budget_s` is its share of all the stages' rows (a pass over more
    rows costs more), turned into passes over its rows at `step_s` per step. A stage that
    would get fewer than `min_epochs` passes is left out from the last one on (a
    self-training round that could not learn its pseudo-labels is not worth its time).

    Args:
        stages: `(name, rows)` in the order they run; the first is always kept.
        budget_s: the seconds to share.
        step_s: seconds per training step (`seconds_per_step`).
        batch_size: rows per step.
        min_epochs: the fewest passes a kept stage gets.

    Returns:
        `{"epochs": {name: passes}, "step_s", "budget_s", "dropped": [names]}`.

    Example:
    ```python
    plan_stages([("initial", 80), ("round_1", 980)], budget_s=600, step_s=0.2,
                batch_size=32)
    ```
    """
    import math

    kept = list(stages)
    while True:
        total = sum(rows for _, rows in kept)
        epochs = {}
        for name, rows in kept:
            seconds = budget_s * rows / total
            epochs[name] = int(seconds / step_s / math.ceil(rows / batch_size))
        short = [name for name, _ in kept[1:] if epochs[name] < min_epochs]
        if not short:
            break
        kept = [stage for stage in kept if stage[0] != kept[-1][0]]
    epochs = {name: max(1, n) for name, n in epochs.items()}
    return {"epochs": epochs, "step_s": round(step_s, 5), "budget_s": budget_s,
            "dropped": [name for name, _ in stages if name not in epochs]}
