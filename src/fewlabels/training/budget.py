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
