import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewlabels import Budget, TeacherStudent
from fewlabels.data.builtin import load_builtin
from fewlabels.data.images import digits_as_images
from fewlabels.errors import InputError, TrainingInterruptedError
from fewlabels.estimators import load_estimator
from fewlabels.estimators.consistency import ConsistencyTraining
from fewlabels.estimators.recipe import plan_steps, pool_selection, stage_budget
from fewlabels.estimators.teacher_student import _StudentStage
from fewlabels.training.budget_test import fills
from fewlabels.training.checkpoint import CheckpointPolicy
from fewlabels.training.labelling import predict_views, reestimate_batchnorm
from fewlabels.training.recorder import TrainingRecorder

PARAMS = dict(steps=20, steps_per_epoch=5, batch_size=8, uratio=2, cnn_widths=(4, 8), seed=3)


@pytest.fixture(scope="module")
def digits():
    table = load_builtin("digits")
    x, y = digits_as_images(table.x)[:200], table.y[:200].copy()
    hidden = y.copy()
    y[40:] = -1
    return x, y, hidden


@given(steps=st.integers(1, 5000), share=st.floats(0.01, 0.99), rounds=st.integers(1, 4),
       per_epoch=st.integers(1, 200))
@settings(max_examples=200, deadline=None)
def test_the_budget_split_adds_up_in_whole_epochs_with_every_stage_training(
        steps, share, rounds, per_epoch):
    plan = plan_steps(steps, share, rounds, per_epoch)
    assert len(plan) == rounds + 1
    assert all(s >= per_epoch and s % per_epoch == 0 for s in plan)
    epochs = max(rounds + 1, -(-steps // per_epoch))
    assert sum(plan) == epochs * per_epoch  # the budget, in whole epochs
    assert plan_steps(6000, 0.5, 1, 50) == [3000, 3000]
    assert plan_steps(6000, 0.25, 2, 50) == [1500, 2250, 2250]


@pytest.fixture(scope="module")
def fitted(digits):
    """One fit for the tests below (an ensemble), with the targets each stage was given."""
    x, y, hidden = digits
    given_targets = []
    original = ConsistencyTraining.fit

    def spy(self, *args, unlabeled_targets=None, **kwargs):
        given_targets.append(unlabeled_targets)
        return original(self, *args, unlabeled_targets=unlabeled_targets, **kwargs)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(ConsistencyTraining, "fit", spy)
        model = TeacherStudent(ConsistencyTraining(**PARAMS), ensemble=True).fit(
            x, y, y_hidden=hidden)
    return model, given_targets


def test_the_teacher_labels_the_pool_in_inference_mode_with_batchnorm_refitted(digits, fitted):
    x, y, hidden = digits
    model, given_targets = fitted
    teacher = model.teacher_.model_
    assert given_targets[0] is None  # the teacher makes its own targets
    # its BatchNorm statistics were re-estimated for its averaged weights: doing it again on
    # the same clean images changes nothing
    bn = [v.numpy().copy() for v in teacher.non_trainable_weights]
    reestimate_batchnorm(teacher, x, seed=PARAMS["seed"])
    for a, b in zip(bn, teacher.non_trainable_weights, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-4, atol=1e-5)
    # the student learnt the teacher's inference-mode probabilities, mirror images averaged
    # (digits flip by default: augment_params left as is)
    expected = predict_views(teacher, x[y < 0], flip=True)
    np.testing.assert_allclose(given_targets[1], expected, rtol=1e-5, atol=1e-6)
    record = model.stages_[0]["labels"]
    assert record["labelled"] == 160
    assert record["accuracy"] == pytest.approx(np.mean(expected.argmax(1) == hidden[40:]))


def test_the_student_is_a_fresh_network_trained_by_distill_on_its_own_seed(fitted):
    model, _ = fitted
    student, teacher = model.students_[0], model.teacher_
    assert student.method == "distill" and teacher.method == "fixmatch"
    assert student.seed == teacher.seed + 1
    shared = {id(v) for v in teacher.model_.weights} & {id(v) for v in student.model_.weights}
    assert not shared
    # a fresh start: the student's first epoch has the supervised loss of an untrained net,
    # which the teacher's last epoch is far below
    assert student.history_["sup_loss"][0] > teacher.history_["sup_loss"][-1]
    assert model.steps_plan_ == [10, 10] and model.n_steps_ == 20
    assert [s["stage"] for s in model.stages_] == ["teacher", "student 1"]
    assert model.history_["stage"] == [0.0] * 2 + [1.0] * 2
    assert len(model.epoch_wall_s_) == 4 and model.epoch_wall_s_ == sorted(model.epoch_wall_s_)


def test_an_ensemble_averages_teacher_and_student_and_saves_and_loads_safely(digits, fitted,
                                                                             tmp_path):
    x, y, _ = digits
    model, _ = fitted
    expected = (predict_views(model.teacher_.model_, x[:20])
                + predict_views(model.students_[0].model_, x[:20])) / 2
    np.testing.assert_allclose(model.predict_proba(x[:20]), expected, rtol=1e-5)
    model.save(tmp_path / "run")
    loaded = load_estimator(tmp_path / "run")
    assert isinstance(loaded, TeacherStudent) and loaded.ensemble
    np.testing.assert_allclose(loaded.predict_proba(x[:20]), expected, rtol=1e-5)
    with pytest.raises(InputError, match="a loaded model keeps only the final one"):
        loaded.evaluate(x[:20], y[:20] % 10, stage="teacher")


def stop_in_stage(monkeypatch, stage: str, step: int):
    """A SIGTERM-like stop request at `step` of the stage whose checkpoints go to `stage`."""
    original = TrainingRecorder.on_train_batch_end

    def patched(self, batch, logs=None):
        if self.fingerprint["stage"] == stage and self.epoch_start + batch + 1 == step:
            self.request_stop("SIGTERM")
        return original(self, batch, logs)

    monkeypatch.setattr(TrainingRecorder, "on_train_batch_end", patched)


RESUMED = {**PARAMS, "steps": 40}


@pytest.fixture(scope="module")
def whole(digits, tmp_path_factory):
    """The uninterrupted run the resumed ones must end as."""
    x, y, _ = digits
    folder = tmp_path_factory.mktemp("whole")
    return TeacherStudent(ConsistencyTraining(**RESUMED), rounds=2).fit(
        x, y, checkpoint=CheckpointPolicy(folder))


@pytest.mark.parametrize("stage", ["stage_0", "stage_2"])
def test_a_run_stopped_inside_a_stage_resumes_to_the_uninterrupted_result(digits, whole,
                                                                           tmp_path,
                                                                           monkeypatch, stage):
    x, y, _ = digits
    def recipe():
        return TeacherStudent(ConsistencyTraining(**RESUMED), rounds=2)

    with monkeypatch.context() as m:
        stop_in_stage(m, stage, 7)
        with pytest.raises(TrainingInterruptedError, match="stopped by SIGTERM"):
            recipe().fit(x, y, checkpoint=CheckpointPolicy(tmp_path / "cut"))
    resumed = recipe().fit(
        x, y, checkpoint=CheckpointPolicy(tmp_path / "cut", resume=True))
    # one store for every stage, as every fit checkpoints (the journal holds finished stages)
    assert not [p for p in (tmp_path / "cut").iterdir() if p.is_dir()]
    for a, b in zip(whole.model_.get_weights(), resumed.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_equal(resumed.history_, whole.history_)  # NaN where a stage logs none
    assert [s["steps"] for s in resumed.stages_] == [20, 10, 10]
    assert resumed.stages_[1]["labels"] == whole.stages_[1]["labels"]


def test_bad_settings_are_refused_at_the_door_naming_them(digits):
    x, y, _ = digits
    with pytest.raises(InputError, match="teacher_share"):
        TeacherStudent(teacher_share=1.0).fit(x, y)
    with pytest.raises(InputError, match="class_balance"):
        TeacherStudent(class_balance="yes").fit(x, y)
    with pytest.raises(InputError, match="teacher must be a ConsistencyTraining; got 'fixmatch'"):
        TeacherStudent(teacher="fixmatch").fit(x, y)
    with pytest.raises(InputError, match="the teacher's method is its consistency algorithm"):
        TeacherStudent(ConsistencyTraining(method="distill")).fit(x, y)
    with pytest.raises(InputError, match="consistency algorithm; got 'supervised'"):
        TeacherStudent(ConsistencyTraining(method="supervised")).fit(x, y)
    with pytest.raises(InputError, match="steps must be"):
        TeacherStudent(ConsistencyTraining(steps=0)).fit(x, y)
    teacher = ConsistencyTraining(**PARAMS)
    with pytest.raises(InputError, match="horizontal_flip off"):
        TeacherStudent(ConsistencyTraining(**PARAMS, augment_params={"horizontal_flip": False}),
                       flip=True).fit(x, y)
    with pytest.raises(InputError, match="makes its own targets: pass neither"):
        TeacherStudent(teacher).fit(x, y, unlabeled_targets=np.zeros((160, 10)))
    with pytest.raises(InputError, match="learns from a teacher"):
        ConsistencyTraining(method="distill", steps=5).fit(x, y)
    with pytest.raises(InputError, match="makes its own targets"):
        ConsistencyTraining(method="fixmatch", steps=5).fit(
            x, y, unlabeled_targets=np.zeros((160, 10)))
    with pytest.raises(InputError, match=r"expected \(160, 10\)"):
        ConsistencyTraining(method="distill", steps=5).fit(
            x, y, unlabeled_targets=np.zeros((10, 10)))


def test_rows_work_too_with_swap_noise_as_the_students_view():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype("float32")
    truth = (x[:, 0] > 0).astype(int)
    y = np.where(np.arange(120) < 20, truth, -1)
    model = TeacherStudent(ConsistencyTraining(steps=40, steps_per_epoch=10, batch_size=8,
                                               uratio=2, hidden_units=(8,))).fit(x, y)
    assert model.n_features_in_ == 4
    assert model.model_ is model.students_[0].model_  # no ensemble: the student itself
    assert model.score(x, truth) > 0.7
    assert keras.ops.convert_to_numpy(model.students_[0].model_(x[:2])).shape == (2, 2)


def test_a_wall_clock_budget_gives_the_teacher_its_share_and_the_student_what_is_left(digits):
    x, y, _ = digits
    model = TeacherStudent(ConsistencyTraining(**PARAMS, budget_s=6.0),
                           teacher_share=0.25).fit(x, y)
    teacher, student = model.stages_
    assert model.budget_plan_s_ == [teacher["budget_s"], student["budget_s"]]
    assert teacher["budget_s"] == 1.5
    assert fills(teacher["calibration"], 1.5)  # its timing is outside, as every method's
    spent = teacher["wall_s"] + teacher["labelling_s"]
    assert student["budget_s"] == pytest.approx(6.0 - spent, abs=2e-3)
    timing = student["calibration"]  # the student's timing is spent from what is left
    assert fills(timing, student["budget_s"] - timing["wall_s"])
    for record, stage in zip(model.stages_, [model.teacher_, *model.students_], strict=True):
        assert record["steps"] == stage.n_steps_ == 5 * record["calibration"]["epochs"]
    assert model.steps_plan_ == [s["steps"] for s in model.stages_]


def test_a_student_gets_what_is_left_shared_with_the_students_still_to_come():
    assert stage_budget(1800.0, 950.0, 1) == 850.0
    assert stage_budget(1800.0, 900.0, 3) == 300.0
    assert stage_budget(1800.0, 2000.0, 1) == 1e-3  # past the budget: one epoch, not none


def test_pool_selection_keeps_the_confident_rows_or_as_many_shared_by_the_prior():
    proba = np.array([[0.9, 0.1], [0.85, 0.15], [0.4, 0.6]])
    assert pool_selection(proba, 0.8, None).tolist() == [0, 1]
    # two rows pass 0.8; shared half and half, class 1 keeps its best row below the threshold
    assert pool_selection(proba, 0.8, np.array([0.5, 0.5])).tolist() == [0, 2]


def test_class_balance_trains_the_student_on_the_rows_the_labeled_prior_shares(digits,
                                                                              monkeypatch):
    x, y, hidden = digits
    from fewlabels.training import labelling

    seen = {}
    real_predict, real_fit = labelling.predict_views, _StudentStage.fit

    def predict(*args, **kwargs):
        proba = real_predict(*args, **kwargs)
        if "targets" not in seen:  # before the student: the teacher's (validation, pool)
            seen["proba"] = proba
        return proba

    def fit(self, *args, unlabeled_targets=None, **kwargs):
        seen["targets"] = unlabeled_targets
        return real_fit(self, *args, unlabeled_targets=unlabeled_targets, **kwargs)

    monkeypatch.setattr(labelling, "predict_views", predict)
    monkeypatch.setattr(_StudentStage, "fit", fit)
    model = TeacherStudent(ConsistencyTraining(**PARAMS), class_balance=True,
                           target_threshold=0.0).fit(
        x[:150], y[:150], validation_data=(x[150:], hidden[150:]))
    proba, targets = seen["proba"], seen["targets"]
    labeled = y[:150][y[:150] >= 0]
    kept = pool_selection(proba, 0.0, np.bincount(labeled, minlength=proba.shape[1])
                          / len(labeled))
    assert len(kept) > 0
    assert np.flatnonzero(targets.any(axis=1)).tolist() == kept.tolist()
    np.testing.assert_array_equal(targets[kept], proba[kept])
    assert model.stages_[0]["labels"]["kept"] == len(kept)
    assert model.students_[0].algorithm_params["threshold"] == 0.0  # selected already


def test_without_unlabeled_rows_the_teacher_trains_alone_and_says_so(digits):
    from fewlabels.errors import FewLabelsWarning

    x, y, _ = digits
    assert np.all(y[:40] >= 0)
    with pytest.warns(FewLabelsWarning, match="trains its teacher alone"):
        model = TeacherStudent(ConsistencyTraining(**PARAMS), ensemble=True).fit(x[:40], y[:40])
    assert model.students_ == [] and model.model_ is model.teacher_.model_
    assert [s["stage"] for s in model.stages_] == ["teacher"] and model.steps_plan_ == [20]


def test_the_flat_parameters_of_earlier_releases_still_build_the_same_recipe():
    with pytest.warns(FutureWarning, match=r"TeacherStudent\(teacher=ConsistencyTraining\("
                                           r"method=..., budget=Budget\(steps=...\)\)\)"):
        old = TeacherStudent(method="flexmatch", steps=40, rounds=2)
    new = TeacherStudent(ConsistencyTraining(method="flexmatch", budget=Budget(40)), rounds=2)
    assert repr(old) == repr(new)
    with pytest.raises(TypeError, match="hidden_unitz"):  # a name of neither kind
        TeacherStudent(hidden_unitz=(8,))


def test_a_saved_recipe_of_an_earlier_release_loads_and_a_new_one_round_trips(digits, tmp_path):
    from fewlabels.files import read_json, write_json

    x, y, _ = digits
    model = TeacherStudent(ConsistencyTraining(**PARAMS, method="softmatch"), rounds=1).fit(x, y)
    model.save(tmp_path / "new")
    loaded = load_estimator(tmp_path / "new")
    assert loaded.params_json() == model.params_json()  # (tuples read back as lists)
    assert loaded.teacher.method == "softmatch"
    np.testing.assert_allclose(loaded.predict_proba(x[:5]), model.predict_proba(x[:5]),
                               atol=1e-6)
    config = read_json(tmp_path / "new" / "config.json")  # as earlier releases wrote it: flat
    teacher = ConsistencyTraining.options_of(config["params"].pop("teacher")["params"])
    config["params"].update(teacher)  # every setting flat: hidden_units, steps, ...
    write_json(tmp_path / "new" / "config.json", config)
    old = load_estimator(tmp_path / "new")
    assert old.params_json() == model.params_json()
