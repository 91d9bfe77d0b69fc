import math
import time
from types import SimpleNamespace

from fewlabels.training.budget import steps_for_budget


def fills(record: dict, seconds: float) -> bool:
    """Whether a timing `record` sized a run to the whole epochs that fit in `seconds` once
    its overhead is taken off (the record's rounding allowed for); other tests use it."""
    exact = (seconds - record["overhead_s"]) / record["epoch_s"]
    return max(1, math.floor(exact - 0.01)) <= record["epochs"] <= max(1, math.floor(exact + 0.01))


def _probe(steps: int) -> SimpleNamespace:
    """A throwaway fit of three epochs that takes at least 0.4 s: its later epochs take
    0.1 and 0.12 s, so an epoch costs 0.11 s and the rest (at least 0.07 s) is overhead."""
    time.sleep(0.4)
    return SimpleNamespace(epoch_wall_s_=[0.2, 0.3, 0.42])


def test_the_steps_are_the_whole_epochs_at_the_later_epochs_rate_that_fit_the_budget():
    steps, record = steps_for_budget(_probe, budget_s=1.45, steps_per_epoch=50)
    assert record["epoch_s"] == 0.11
    assert record["wall_s"] >= 0.4
    assert record["overhead_s"] == round(record["wall_s"] - 3 * 0.11, 3)
    assert record["epochs"] == int((1.45 - record["overhead_s"]) / 0.11) < int(1.45 / 0.11)
    assert steps == 50 * record["epochs"]
    assert steps_for_budget(_probe, budget_s=0.01, steps_per_epoch=50)[0] == 50  # one epoch


def test_the_probe_runs_three_epochs():
    asked = []
    steps_for_budget(lambda n: asked.append(n) or _probe(n), budget_s=1.0, steps_per_epoch=7)
    assert asked == [21]


def test_a_later_stage_spends_its_own_timing_from_its_budget():
    steps, record = steps_for_budget(_probe, budget_s=2.0, steps_per_epoch=50,
                                     count_timing=True)
    left = 2.0 - record["overhead_s"] - record["wall_s"]
    assert record["epochs"] == int(left / 0.11) < int((2.0 - record["overhead_s"]) / 0.11)
    assert steps == 50 * record["epochs"]
    spent = steps_for_budget(_probe, budget_s=0.2, steps_per_epoch=50, count_timing=True)
    assert spent[0] == 50  # the timing took the whole budget: still one epoch


def test_plan_stages_shares_the_budget_by_rows_and_drops_rounds_too_short_to_learn():
    from fewlabels.training.budget import plan_stages

    stages = [("initial", 80), ("round_1", 1000), ("round_2", 1000), ("finetune", 80)]
    plan = plan_stages(stages, budget_s=600, step_s=0.1, batch_size=32)
    assert plan["dropped"] == []
    # 600 s x 1000/2160 of the rows = 278 s = 2778 steps = 86 passes of 32 steps
    assert plan["epochs"]["round_1"] == 86 and plan["epochs"]["initial"] == 74
    tight = plan_stages(stages, budget_s=10, step_s=0.1, batch_size=32)
    assert tight["dropped"] == ["round_1", "round_2", "finetune"]  # the last ones first
    assert tight["epochs"] == {"initial": 33}  # 10 s = 100 steps of the 3 a pass takes


def test_a_self_training_budget_plans_its_stages_says_so_and_keeps_to_it(capsys):
    import time

    from fewlabels import SelfTraining
    from fewlabels.data import hide_labels, load_images

    data = load_images("digits")
    y, _ = hide_labels(data.y, 5, seed=0)
    start = time.perf_counter()
    model = SelfTraining(cnn_widths=(8, 16), budget_s=20, rounds=3, verbose=1).fit(
        data.x[:600], y[:600])
    took = time.perf_counter() - start
    said = capsys.readouterr().out
    assert "Plan for budget_s=20: one step takes" in said.splitlines()[0]
    plan = model.plan_
    assert set(plan["epochs"]) >= {"initial"} and plan["budget_s"] == 20
    assert took < 2 * 20 + 30  # the passes share the budget (the compile comes on top)
    for stage in model.stages_:  # (passes round up to whole Keras epochs of 16+ steps)
        assert stage["epochs"] < plan["epochs"][stage["stage"]] + stage["passes_per_epoch"]


def test_a_backbone_fit_without_a_budget_says_what_a_round_may_cost(capsys):
    from fewlabels import SelfTraining
    from fewlabels.data import hide_labels, load_images

    data = load_images("digits")
    y, _ = hide_labels(data.y, 3, seed=0)
    SelfTraining(backbone="cnn", weights="none", cnn_widths=(4, 8), epochs=2, rounds=1,
                 min_steps=0, finetune=False, verbose=1).fit(data.x[:200], y[:200])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("Plan: the initial stage and up to 1 round(s)")
    assert "may take up to" in first and "--budget-s" in first
