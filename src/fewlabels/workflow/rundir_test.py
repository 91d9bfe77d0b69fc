"""The run directory keeps its promises: no write through a planted link, nothing deleted
before the input is checked, an interrupted overwrite that can be resumed, outputs that
cannot clobber inputs, and one writer at a time."""


import numpy as np
import pytest

from fewlabels import SelfTraining, cli, workflow
from fewlabels.errors import FewLabelsError
from fewlabels.training.stage import save_model
from fewlabels.workflow.rundir import run_lock

FAST = ["--method", "supervised", "--epochs", "3", "--patience", "1", "--min-steps", "0",
        "--hidden-units", "8", "--no-baseline", "--verbose", "0"]


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    path = tmp_path / "data.csv"
    path.write_text("".join(",".join(f"{v:.4f}" for v in row) + f",{label}\n"
                            for row, label in zip(x, y, strict=True)))
    return path


@pytest.fixture
def finished(tmp_path, table):
    run = tmp_path / "run"
    assert cli.main(["fit", str(table), "--out", str(run), *FAST]) == 0
    assert cli.main(["evaluate", str(run), str(table)]) == 0
    return run


def test_a_link_planted_at_a_temporary_name_does_not_redirect_the_model_save(tmp_path):
    import keras

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    for name in (".model.tmp.keras", ".model.keras.tmp", ".tmp.keras"):
        (run / name).symlink_to(victim)
    inputs = keras.Input((2,))
    save_model(keras.Model(inputs, keras.layers.Dense(2)(inputs)), run / "model.keras")
    assert victim.read_text() == "precious"
    assert (run / "model.keras").is_file() and not (run / "model.keras").is_symlink()
    assert sorted(p.name for p in run.iterdir() if not p.is_symlink()) == ["model.keras"]


def test_overwrite_with_bad_input_keeps_the_previous_run_whole(tmp_path, finished):
    before = sorted(p.name for p in finished.rglob("*"))
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,0\n3,x,1\n")
    assert cli.main(["fit", str(bad), "--out", str(finished), "--overwrite", *FAST]) == 2
    assert sorted(p.name for p in finished.rglob("*")) == before


def test_an_interrupted_overwrite_leaves_a_run_that_resumes(tmp_path, table, finished,
                                                            monkeypatch):
    def killed(self, *args, checkpoint=None, **kwargs):
        (checkpoint.directory / "ckpt-0000000001.npz").parent.mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(SelfTraining, "fit", killed)
    assert cli.main(["fit", str(table), "--out", str(finished), "--overwrite", *FAST]) == 130
    assert not (finished / "model.keras").exists()
    assert not (finished / "evaluation.json").exists()  # no stale score of the old model
    assert (finished / "checkpoints" / "main").is_dir()
    workflow.check_run_dir(finished, overwrite=False, resume=True)  # not "already finished"


def test_an_overwrite_removes_only_what_the_run_wrote(tmp_path, table, finished):
    (finished / "my_notes.txt").write_text("mine")
    assert cli.main(["fit", str(table), "--out", str(finished), "--overwrite", *FAST]) == 0
    assert (finished / "my_notes.txt").read_text() == "mine"
    assert not (finished / "evaluation.json").exists()
    assert (finished / "model.keras").is_file()


@pytest.mark.parametrize("target", ["data", "model", "folder"])
def test_predict_refuses_to_write_over_its_input_or_the_run(tmp_path, table, finished, target):
    out = {"data": table, "model": finished / "model.keras", "folder": tmp_path}[target]
    before = out.read_bytes() if out.is_file() else None
    assert cli.main(["predict", str(finished), str(table), "--out", str(out)]) == 2
    if before is not None:
        assert out.read_bytes() == before


def test_a_second_run_into_a_locked_directory_is_refused_before_reading_the_data(
        tmp_path, table, capsys, monkeypatch):
    import subprocess
    import sys

    from fewlabels.workflow import runs

    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from fewlabels.workflow.rundir import run_lock\n"
         f"with run_lock(Path({str(run)!r})):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        read = []
        monkeypatch.setattr(runs, "load_training_data", lambda *a, **k: read.append(a))
        assert cli.main(["fit", str(table), "--out", str(run), "--overwrite", *FAST]) == 2
    finally:
        holder.kill()
        holder.wait()
    assert f"another fewlabels run (PID {holder.pid}) is writing" in capsys.readouterr().err
    assert read == []  # refused before the data was read
    monkeypatch.undo()
    assert cli.main(["fit", str(table), "--out", str(run), "--overwrite", *FAST]) == 0


def test_a_lock_file_alone_does_not_make_a_directory_non_empty(tmp_path, table):
    run = tmp_path / "run"
    with run_lock(run):
        pass
    assert cli.main(["fit", str(table), "--out", str(run), *FAST]) == 0


def test_a_non_empty_directory_still_needs_overwrite(tmp_path, table):
    run = tmp_path / "run"
    run.mkdir()
    (run / "other.txt").write_text("x")
    with pytest.raises(FewLabelsError, match="the run directory is not empty"):
        workflow.check_run_dir(run, overwrite=False)


def test_a_toml_config_sets_fit_options_and_the_command_line_overrides_it(tmp_path, table):
    import json

    config = tmp_path / "run.toml"
    config.write_text(f'data = "{table}"\nmethod = "supervised"\nepochs = 4\nbaseline = false\n'
                      "min_steps = 0\npatience = 1\nverbose = 0\n\n[params]\n"
                      "hidden_units = [8]\nlearning_rate = 0.02\n")
    run = tmp_path / "run"
    assert cli.main(["fit", "--config", str(config), "--out", str(run), "--epochs", "2"]) == 0
    saved = json.loads((run / "config.json").read_text())
    params = saved["params"]  # the specs, every setting resolved
    assert saved["method"] == "supervised" and params["stopping"]["epochs"] == 2
    assert params["model"]["hidden_units"] == [8] and params["learning_rate"] == 0.02
    assert saved["baseline"] is False


def test_a_runs_config_json_reproduces_the_run(tmp_path, finished):
    import json

    again = tmp_path / "again"
    assert cli.main(["fit", "--config", str(finished / "config.json"), "--out", str(again)]) == 0
    first = json.loads((finished / "config.json").read_text())
    second = json.loads((again / "config.json").read_text())
    assert second["params"] == first["params"] and second["method"] == first["method"]
    first_metrics = json.loads((finished / "metrics.json").read_text())["results"]
    second_metrics = json.loads((again / "metrics.json").read_text())["results"]
    assert [r["metrics"]["accuracy"] for r in second_metrics] == [
        r["metrics"]["accuracy"] for r in first_metrics]


def test_a_config_with_an_unknown_option_is_one_line_naming_it(tmp_path, table, capsys):
    config = tmp_path / "run.toml"
    config.write_text(f'data = "{table}"\nthreshhold = 0.9\n')
    assert cli.main(["fit", "--config", str(config), "--out", str(tmp_path / "r")]) == 2
    assert "the configuration sets ['threshhold'], which are not options of table-ensemble" \
        in capsys.readouterr().err


@pytest.mark.parametrize(("text", "message"), [
    ("threshold = [1, 2]", "the configuration's 'threshold' must be one value; got [1, 2]"),
    ("data = 42", "'data' must be a path (text); got 42"),
    ("baseline = \"yes\"", "the configuration's 'baseline' must be true or false"),
    ("epochs = 2.5", "the configuration's 'epochs': 2.5 is not a whole number"),
    ("hidden_units = \"a,b\"", "the configuration's 'hidden_units': 'a,b' is not valid"),
])
def test_a_config_value_of_the_wrong_type_is_one_line_naming_it(tmp_path, table, capsys, text,
                                                                message):
    config = tmp_path / "run.toml"
    config.write_text(f'data = "{table}"\nmethod = "self-training"\n{text}\n'
                      if not text.startswith("data") else text)
    assert cli.main(["fit", "--config", str(config), "--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err


def test_a_config_that_is_not_utf8_is_one_line(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_bytes(b"data = \"\xff\xfe\"\n")
    assert cli.main(["fit", "--config", str(config), "--out", str(tmp_path / "r")]) == 2
    assert "not UTF-8 text (byte 8)" in capsys.readouterr().err


def test_a_configs_relative_paths_name_files_beside_it(tmp_path, table, monkeypatch):
    import shutil

    from fewlabels.workflow.config import read_run_config

    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(table, folder / "data.csv")
    (folder / "run.toml").write_text('data = "data.csv"\n')
    monkeypatch.chdir(tmp_path)  # not the configuration's folder
    assert read_run_config(folder / "run.toml")["data"] == str(folder / "data.csv")
    (folder / "builtin.toml").write_text('data = "digits"\n')  # no such file: a dataset name
    assert read_run_config(folder / "builtin.toml")["data"] == "digits"
