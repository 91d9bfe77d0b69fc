"""Tests for the run-directory workflows the CLI calls."""

import json

import numpy as np
import pytest

from fewlabels import workflow
from fewlabels.data import load_builtin, stratified_split
from fewlabels.errors import FewLabelsError, FewLabelsWarning

TINY = dict(hidden_units=(16,), epochs=8, patience=2, rounds=1, finetune_epochs=2,
            learning_rate=0.01)


def test_demo_compares_methods_and_records_pseudo_label_accuracy(tmp_path, monkeypatch):
    from fewlabels.workflow import runs

    monkeypatch.setattr(runs, "DEMO_FIXMATCH", {"steps": 20, "steps_per_epoch": 10,
                                                    "batch_size": 8, "uratio": 2})
    monkeypatch.setattr(runs, "make_estimator", _tiny_self_training(runs.make_estimator))
    result = workflow.demo(tmp_path / "demo", n_per_class=3, verbose=0)
    names = [r["name"] for r in result.results]
    assert names[0] == "supervised (linear + kernel members)" and names[5] == "table-ensemble"
    assert names[6] == "supervised MLP" and names[-2] == "self-training"
    assert names[-1] == "fixmatch (8x8 images, CNN)" and result.results[-1]["labeled"] == 30
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    # The others are their own runs; the demo renames the baseline in its printed table.
    assert [r["name"] for r in metrics["results"]] == ["supervised baseline", *names[1:6]]
    images_run = json.loads((tmp_path / "demo" / "fixmatch" / "metrics.json").read_text())
    assert [r["name"] for r in images_run["results"]] == ["fixmatch"]
    fixmatch = json.loads((tmp_path / "demo" / "fixmatch" / "history.json").read_text())
    assert len(fixmatch["epochs"]["mask_rate"]) == 2
    assert "pseudo_label_accuracy" in fixmatch["epochs"]
    y = load_builtin("digits").y
    n_test = len(stratified_split(y, 0.2, seed=0)[1])  # 20% of each class, rounded per class
    assert all(r["metrics"]["n"] == n_test for r in result.results)
    history = json.loads((tmp_path / "demo" / "history.json").read_text())
    assert history["rounds"][0]["pseudo_label_accuracy"] is not None
    assert "self-training" in result.table


def _tiny_self_training(make):
    def tiny(method="self-training", **params):
        return make(method, **({**TINY, **params} if method == "self-training" else params))
    return tiny


def test_test_rows_come_only_from_labeled_rows_and_leave_training(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = np.array([0, 1] * 10 + [-1] * 20)
    seen = {}

    from fewlabels import SelfTraining

    class Spy(SelfTraining):
        def fit(self, x_fit, y_fit, classes=None, y_hidden=None, checkpoint=None):
            seen["n"], seen["unlabeled"] = len(y_fit), int(np.sum(y_fit < 0))
            raise RuntimeError("stop after fit")

    with pytest.raises(RuntimeError, match="stop after fit"):
        workflow.run_experiment(x, y, [0, 1], out=tmp_path / "run", estimator=Spy(rounds=0),
                                test_fraction=0.2)
    assert seen == {"n": 36, "unlabeled": 20}  # 2 of each 10-row class held out


def test_a_tiny_test_split_warns_that_its_scores_are_noisy(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)).astype(np.float32)
    y = np.array([0, 1] * 10 + [-1] * 40)  # 20 labeled rows: a 4-row test split
    with pytest.warns(FewLabelsWarning, match="the test split has only 4 rows, so one row is 25"):
        workflow.run_experiment(x, y, [0, 1], out=tmp_path / "run",
                                estimator=workflow.make_estimator(**TINY), baseline=False)


def test_make_estimator_refuses_unknown_methods():
    with pytest.raises(FewLabelsError,
                       match=r"method must be one of \['table-ensemble', 'self-training'"):
        workflow.make_estimator("fixmatch-ish")
    assert workflow.make_estimator("supervised").rounds == 0
    fixmatch = workflow.make_estimator("fixmatch", threshold=0.8, steps=50)
    assert fixmatch.budget.steps == 50 and fixmatch.algorithm_params == {"threshold": 0.8}
    with pytest.raises(FewLabelsError, match=r"fixmatch has no hyperparameter\(s\) \['rounds'\]"):
        workflow.make_estimator("fixmatch", rounds=3)  # at the door, before any data
    with pytest.raises(FewLabelsError, match=r"freematch has no hyperparameter\(s\) \['tau'\]"):
        workflow.make_estimator("teacher-student", teacher="freematch",
                                algorithm_params={"tau": 0.9})
    with pytest.raises(FewLabelsError, match="unknown parameter 'treshold'"):
        workflow.make_estimator(treshold=0.9)
    with pytest.raises(FewLabelsError, match=r"selection.threshold must be in \[0.0, 1.0\]"):
        workflow.make_estimator("self-training", threshold=7.0)  # a spec's setting, too


def test_auto_is_the_measured_default_for_the_data():
    from fewlabels.estimators import (
        ConsistencyTraining,
        SelfTraining,
        TableEnsemble,
        TeacherStudent,
    )
    from fewlabels.workflow.experiment import estimator_for

    assert type(estimator_for("auto", images=False)) is TableEnsemble
    recipe = estimator_for("auto", images=True, steps=60)
    assert type(recipe) is TeacherStudent and recipe.teacher.budget.steps == 60
    streamed = estimator_for("auto", images=True, streamed=True)
    assert type(streamed) is ConsistencyTraining and streamed.method == "softmatch"
    transfer = estimator_for("auto", images=True, backbone="MobileNetV2")
    assert type(transfer) is SelfTraining and transfer.model.backbone == "MobileNetV2"
    assert type(estimator_for("self-training", images=True, epochs=3)) is SelfTraining
    # a parameter of another method: the error says what "auto" chose
    with pytest.raises(FewLabelsError, match=r"fixmatch has no hyperparameter\(s\) \['epochs'\]"
                       r".*method 'auto' chose 'teacher-student' for this data"):
        estimator_for("auto", images=True, epochs=3)


def test_run_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(FewLabelsError, match="is not a directory"):
        workflow.check_run_dir(target, overwrite=True)


def test_test_file_with_unlabeled_rows_is_refused(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("1,0\n2,1\n3,-1\n4,0\n5,1\n")
    test = tmp_path / "test.csv"
    test.write_text("1,0\n2,?\n")
    with pytest.raises(FewLabelsError, match=r"every test row needs a label \(first at row 2\)"):
        workflow.fit_run(train, tmp_path / "run", test=test, method="self-training", **TINY)
    assert not (tmp_path / "run").exists()


def test_an_output_path_escaping_the_run_directory_is_refused_before_training(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = np.array([0, 1] * 10 + [-1] * 20)
    outside = tmp_path / "outside"
    outside.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").symlink_to(outside / "victim")
    estimator = workflow.make_estimator("supervised", **TINY)
    with pytest.raises(FewLabelsError, match="escapes the output directory"):
        workflow.run_experiment(x, y, [0, 1], out=run, estimator=estimator, overwrite=True)
    (run / "model.keras").unlink()
    (run / "checkpoints").symlink_to(outside, target_is_directory=True)
    with pytest.raises(FewLabelsError, match=r"checkpoints: escapes the output directory"):
        workflow.run_experiment(x, y, [0, 1], out=run, estimator=estimator, overwrite=True)
    assert list(outside.iterdir()) == []  # nothing was written outside


def test_resume_needs_an_unfinished_run_and_excludes_overwrite(tmp_path):
    with pytest.raises(FewLabelsError, match="no unfinished run to resume"):
        workflow.check_run_dir(tmp_path, overwrite=False, resume=True)
    with pytest.raises(FewLabelsError, match="pass one"):
        workflow.check_run_dir(tmp_path, overwrite=True, resume=True)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "model.keras").write_bytes(b"")
    with pytest.raises(FewLabelsError, match="already finished"):
        workflow.check_run_dir(tmp_path, overwrite=False, resume=True)
    (tmp_path / "model.keras").unlink()
    with pytest.raises(FewLabelsError, match="unfinished run: pass --resume"):
        workflow.check_run_dir(tmp_path, overwrite=False)


def test_the_few_test_rows_warning_suggests_a_test_file_only_when_none_was_given(tmp_path):
    x = np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32)
    y = np.array([0, 1] * 10 + [-1] * 40)
    estimator = workflow.make_estimator("supervised", **TINY)
    with pytest.warns(FewLabelsWarning, match=r"pass a labeled test file \(--test FILE\)"):
        workflow.run_experiment(x, y, [0, 1], out=tmp_path / "a", estimator=estimator,
                                baseline=False)
    with pytest.warns(FewLabelsWarning, match="a larger test set measures more precisely"):
        workflow.run_experiment(x, y, [0, 1], out=tmp_path / "b", estimator=estimator,
                                x_test=x[:10], y_test=np.array([0, 1] * 5), baseline=False)
