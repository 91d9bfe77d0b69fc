"""The EMA warm-up benchmark's table reads its curves correctly and refuses bad options."""

from __future__ import annotations

import ema_warmup
import pytest


def test_the_first_step_reaching_a_level_is_read_off_the_curve():
    curve = [[100, 0.10], [200, 0.69], [300, 0.70], [400, 0.65]]
    assert ema_warmup.first_step_at(curve, 0.70) == 300
    assert ema_warmup.first_step_at(curve, 0.80) is None


def test_the_table_shows_each_scored_model_at_the_listed_steps():
    run = {"method": "network (no average)", "seed": 0, "test_accuracy": 0.8012,
           "curve_steps": [[s, s / 1000] for s in range(100, 601, 100)], "steps_to_0.70": None}
    info = {"settings": {"steps": 600}, "command": "python benchmarks/ema_warmup.py",
            "date": "2026-11-24 09:00 UTC",
            "machine": {"cpu": "cpu", "cores": 2, "ram_gib": 24.0}, "versions": {}}
    text = ema_warmup.table([run], info)
    assert "| step 100 | step 300 | step 500 | step 600 |" in text
    assert "| network (no average) | 0 | 0.100 | 0.300 | 0.500 | 0.600 | never | 0.801 |" in text


@pytest.mark.parametrize(("option", "message"), [
    (["--steps", "250"], "--steps must be a positive multiple of 100; got 250"),
    (["--ema-momentum", "1"], "--ema-momentum must be in (0, 1); got 1.0"),
])
def test_bad_options_are_refused_before_any_data_is_loaded(monkeypatch, capsys, option,
                                                           message):
    monkeypatch.setattr("sys.argv", ["ema_warmup.py", *option])
    with pytest.raises(SystemExit):
        ema_warmup.main()
    assert message in capsys.readouterr().err
