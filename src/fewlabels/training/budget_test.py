import time
from types import SimpleNamespace

from fewlabels.training.budget import steps_for_budget


def _probe(steps: int) -> SimpleNamespace:
    """A throwaway fit that takes 0.3 s, two epochs of which the second took 0.1 s."""
    time.sleep(0.3)
    return SimpleNamespace(epoch_wall_s_=[0.2, 0.3])


def test_the_steps_are_the_whole_epochs_of_the_timed_one_that_fit_the_budget():
    steps, record = steps_for_budget(_probe, budget_s=1.05, steps_per_epoch=50)
    assert record["epoch_s"] == 0.1 and record["epochs"] == 10 and steps == 500
    assert record["wall_s"] >= 0.3
    assert steps_for_budget(_probe, budget_s=0.01, steps_per_epoch=50)[0] == 50  # one epoch


def test_a_later_stage_spends_its_own_timing_from_its_budget():
    steps, record = steps_for_budget(_probe, budget_s=1.05, steps_per_epoch=50,
                                     count_timing=True)
    assert record["epochs"] == int((1.05 - record["wall_s"]) / 0.1) < 10
    assert steps == 50 * record["epochs"]
    spent = steps_for_budget(_probe, budget_s=0.2, steps_per_epoch=50, count_timing=True)
    assert spent[0] == 50  # the timing took the whole budget: still one epoch
