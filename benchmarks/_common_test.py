"""The benchmark helpers: which runs share a table (`--resume`), and reading a curve."""

from __future__ import annotations

import argparse
import json

import pytest
from _common import (
    add_resume,
    describe_machine,
    first_reaching,
    footer,
    machine,
    previous_runs,
    write_outputs,
)


def _args(tmp_path, *argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(tmp_path / "r.json"))
    parser.add_argument("--table", default=str(tmp_path / "r.md"))
    add_resume(parser)
    return parser.parse_args(list(argv))


def _table(runs, info):
    return f"{len(runs)} runs\n" + "\n".join(footer(info))


def test_resume_keeps_earlier_runs_and_names_every_invocation(tmp_path):
    settings = {"budget_min": 30.0, "cnn_widths": (16, 32, 64)}
    first = _args(tmp_path)
    write_outputs(first, [{"method": "a", "seed": 0}], _table, settings=settings, earlier=[])
    again = _args(tmp_path, "--resume")
    runs, earlier = previous_runs(again, settings)  # a tuple here, a list in the file
    assert runs == [{"method": "a", "seed": 0}]
    assert len(earlier) == 1
    write_outputs(again, [*runs, {"method": "b", "seed": 0}], _table, settings=settings,
                  earlier=earlier)
    saved = json.loads((tmp_path / "r.json").read_text())
    assert [r["method"] for r in saved["runs"]] == ["a", "b"]
    assert len(saved["meta"]["invocations"]) == 2
    text = (tmp_path / "r.md").read_text()
    assert text.startswith("2 runs") and text.count("`") >= 4 and "Commands (" in text


def test_resume_refuses_a_file_made_with_other_settings(tmp_path):
    write_outputs(_args(tmp_path), [{"method": "a", "seed": 0}], _table,
                  settings={"budget_min": 30.0, "uratio": 7}, earlier=[])
    with pytest.raises(SystemExit, match=r"other settings \(budget_min: 30.0 there, 10.0 now\)"):
        previous_runs(_args(tmp_path, "--resume"), {"budget_min": 10.0, "uratio": 7})


def test_resume_refuses_a_file_timed_on_another_machine(tmp_path):
    write_outputs(_args(tmp_path), [{"method": "a", "seed": 0}], _table,
                  settings={"x": 1}, earlier=[])
    path = tmp_path / "r.json"
    saved = json.loads(path.read_text())
    assert previous_runs(_args(tmp_path, "--resume"), {"x": 1})[0] == saved["runs"]
    other = {**saved["meta"]["machine"], "cpu_model": "not this one"}
    path.write_text(json.dumps({**saved, "meta": {**saved["meta"], "machine": other}}))
    with pytest.raises(SystemExit, match="timed on another machine"):
        previous_runs(_args(tmp_path, "--resume"), {"x": 1})


def test_a_machine_recorded_before_its_cpu_family_is_another_machine(tmp_path):
    write_outputs(_args(tmp_path), [], _table, settings={"x": 1}, earlier=[])
    path = tmp_path / "r.json"
    saved = json.loads(path.read_text())
    old = {k: saved["meta"]["machine"][k] for k in ("cpu", "cores", "ram_gib", "platform")}
    path.write_text(json.dumps({**saved, "meta": {**saved["meta"], "machine": old}}))
    assert "family and model not recorded" in describe_machine(old)
    with pytest.raises(SystemExit, match="not recorded"):
        previous_runs(_args(tmp_path, "--resume"), {"x": 1})


def test_the_machine_names_the_cpu_family_and_its_vector_instructions():
    here = machine()
    assert here["cores"] >= 1 and isinstance(here["isa"], list)
    m = {"cpu": "AMD EPYC", "cpu_family": "26", "cpu_model": "2", "stepping": "1",
         "isa": ["avx2", "avx512f"], "cores": 2, "ram_gib": 23.5}
    assert describe_machine(m) == "AMD EPYC (family 26, model 2, AVX-512), 2 cores, 23.5 GiB RAM"
    assert "AVX2)" in describe_machine({**m, "isa": ["avx2"]})


def test_without_resume_the_file_is_started_afresh(tmp_path):
    write_outputs(_args(tmp_path), [{"method": "a", "seed": 0}], _table,
                  settings={"x": 1}, earlier=[])
    assert previous_runs(_args(tmp_path), {"x": 2}) == ([], [])


def test_first_reaching_is_the_first_x_at_or_above_the_level():
    curve = [[100, 0.5], [200, 0.71], [300, 0.69], [400, 0.9]]
    assert first_reaching(curve, 0.70) == 200.0
    assert first_reaching(curve, 0.90) == 400.0
    assert first_reaching(curve, 0.95) is None
