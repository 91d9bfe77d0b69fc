"""Loading a saved estimator refuses models fewlabels cannot predict with, by name."""

import keras
import pytest

from fewlabels import SelfTraining
from fewlabels.errors import InputError
from fewlabels.files import write_json
from fewlabels.training.stage import save_model


def _run_dir(tmp_path, model):
    save_model(model, tmp_path / "model.keras")
    write_json(tmp_path / "classes.json", ["a", "b"])
    write_json(tmp_path / "config.json", {"estimator": "SelfTraining", "params": {}})
    return tmp_path


def test_a_model_with_an_input_of_unknown_size_is_refused(tmp_path):
    inputs = keras.Input((None, None, 1))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(features))
    with pytest.raises(InputError, match=r"input shape \(None, None, 1\) is not fixed"):
        SelfTraining.load(_run_dir(tmp_path, model))


def test_a_model_with_two_inputs_is_refused(tmp_path):
    a, b = keras.Input((4,)), keras.Input((4,))
    joined = keras.layers.Concatenate()([a, b])
    model = keras.Model([a, b], keras.layers.Dense(2, activation="softmax")(joined))
    with pytest.raises(InputError, match="the model has 2 inputs and 1 outputs"):
        SelfTraining.load(_run_dir(tmp_path, model))


def test_a_class_list_naming_a_class_twice_is_refused(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    run = _run_dir(tmp_path, model)
    write_json(run / "classes.json", ["a", "a"])
    with pytest.raises(InputError, match=r"classes.json: lists \['a'\] more than once"):
        SelfTraining.load(run)


def test_like_takes_the_shared_parameters_then_the_overrides_and_leaves_the_source_alone():
    from fewlabels import Budget, ConsistencyTraining, TeacherStudent

    teacher = ConsistencyTraining(method="flexmatch", batch_size=8, seed=5, budget=Budget(40))
    stage = ConsistencyTraining.like(teacher, method="supervised", steps=10)  # a flat setting
    assert isinstance(stage, ConsistencyTraining)
    assert (stage.method, stage.batch_size, stage.seed) == ("supervised", 8, 5)
    assert stage.budget == Budget(10) and teacher.budget == Budget(40)
    assert teacher.method == "flexmatch"
    recipe = TeacherStudent(teacher, rounds=2)
    baseline = recipe.supervised_baseline()  # the teacher's settings, supervised
    assert type(baseline) is ConsistencyTraining and not hasattr(baseline, "rounds")
    assert (baseline.method, baseline.batch_size, baseline.budget) == ("supervised", 8,
                                                                       Budget(40))


def test_the_registry_names_an_unknown_estimator_and_finds_each_methods_class():
    from fewlabels import ConsistencyTraining, TeacherStudent
    from fewlabels.errors import FewLabelsError
    from fewlabels.estimators import estimator_class, method_estimator

    with pytest.raises(FewLabelsError, match=r"unknown estimator 'Nope'; known: \['TableEnsemble'"):
        estimator_class("Nope")
    assert method_estimator("teacher-student") is TeacherStudent
    assert method_estimator("flexmatch") is ConsistencyTraining
    assert method_estimator("distill") is None  # a stage of teacher-student, not a method


def test_a_networks_logits_are_what_its_softmax_turns_into_its_probabilities(tmp_path):
    import numpy as np

    from fewlabels import Budget, ConsistencyTraining, TableEnsemble
    from fewlabels.data import hide_labels, load_builtin
    from fewlabels.estimators import load_estimator

    table = load_builtin("wine")
    y, _ = hide_labels(table.y, 5, seed=0)
    model = ConsistencyTraining(budget=Budget(20)).fit(table.x, y)
    logits = model.logits(table.x)
    assert model.has_logits() and logits.shape == (len(table.x), 3)
    soft = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(soft / soft.sum(axis=1, keepdims=True),
                               model.predict_proba(table.x), atol=1e-5)
    model.save(tmp_path / "run")
    np.testing.assert_allclose(load_estimator(tmp_path / "run").logits(table.x), logits,
                               atol=1e-6)
    ensemble = TableEnsemble(members=("linear", "graph")).fit(table.x, y)
    assert not ensemble.has_logits()
    with pytest.raises(InputError, match=r"TableEnsemble's model does not end with one "
                                         r"softmax Dense layer .*so it has no logits"):
        ensemble.logits(table.x)
