"""The specs the estimators share: one meaning per name, the flat form of earlier releases,
and the JSON a run records."""

import inspect
import warnings

import pytest

from fewlabels import (
    Budget,
    ConsistencyTraining,
    FineTune,
    Graph,
    Network,
    Optimizer,
    Selection,
    SelfTraining,
    Stopping,
    TableEnsemble,
    TeacherStudent,
    Views,
    WeightAverage,
)
from fewlabels.errors import FewLabelsError
from fewlabels.estimators import estimator_classes

MAX_PARAMETERS = 15


def test_no_estimator_takes_more_than_fifteen_parameters():
    counts = {cls.__name__: len(inspect.signature(cls).parameters)
              for cls in estimator_classes()}
    assert counts == {"TableEnsemble": 14, "SelfTraining": 15, "TeacherStudent": 11,
                      "ConsistencyTraining": 15}
    assert max(counts.values()) <= MAX_PARAMETERS


def test_each_flat_name_has_one_meaning_per_estimator():
    for cls in estimator_classes():
        flat = cls.flat_names()
        own = set(cls._get_param_names())
        # a flat name is a spec's setting, or the spec parameter itself for its shorthand
        clashes = [name for name, (param, _) in flat.items() if name in own and name != param]
        assert clashes == [], (cls.__name__, clashes)
    # the same flat name means the same setting in every estimator that takes it
    meaning: dict[str, tuple] = {}
    for cls in estimator_classes():
        for name, (param, field) in cls.flat_names().items():
            kind = type(cls._specs[param]).__name__
            assert meaning.setdefault(name, (kind, field)) == (kind, field), name


def test_the_flat_form_warns_and_builds_the_nested_one():
    with pytest.warns(FutureWarning, match=r"ConsistencyTraining\(steps=\.\.\., hidden_units="
                      r"\.\.\.\) is now ConsistencyTraining\(budget=Budget\(steps=\.\.\.\), "
                      r"model=Network\(hidden_units=\.\.\.\)\)"):
        flat = ConsistencyTraining(steps=50, hidden_units=(8,), seed=3)
    nested = ConsistencyTraining(budget=Budget(50),
                                 model=Network(hidden_units=(8,)), seed=3)
    assert flat.get_params(deep=True) == nested.get_params(deep=True)
    with pytest.warns(FutureWarning, match=r"selection=Selection\(threshold=\.\.\.\)"):
        st = SelfTraining(threshold=0.8, finetune_epochs=4, budget_s=9.0)
    assert st.selection == Selection(threshold=0.8) and st.finetune == FineTune(4)
    assert st.budget == Budget(seconds=9.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new form, shorthands included, warns nothing
        ConsistencyTraining(model="cnn", optimizer="adam", budget=Budget(seconds=60.0))


def test_a_bare_value_is_the_spec_of_that_name_and_a_wrong_kind_is_named():
    model = ConsistencyTraining(model="cnn", optimizer="adam")
    assert model._spec("model") == Network("cnn") and model._spec("optimizer") == Optimizer("adam")
    assert model._spec("budget") == Budget(1000, steps_per_epoch=100)  # the estimator's default
    assert ConsistencyTraining(budget=Budget(seconds=5.0))._spec("budget") == Budget(
        1000, seconds=5.0, steps_per_epoch=100)
    with pytest.raises(FewLabelsError, match=r"budget must be a Budget; got 600"):
        ConsistencyTraining(budget=600)._spec("budget")
    with pytest.raises(FewLabelsError, match=r"views: Views has no setting 'weakk'"):
        ConsistencyTraining.from_params_json({"views": {"weakk": "none"}})
    assert SelfTraining(finetune=False)._spec("finetune") is None


@pytest.mark.parametrize(("estimator", "message"), [
    (ConsistencyTraining(model=Network(dropout=1.5)), r"model\.dropout must be"),
    (ConsistencyTraining(views=Views(weak="blur")), r"views\.weak must be one of"),
    (ConsistencyTraining(average=WeightAverage(momentum=2.0)), r"average\.momentum must be"),
    (ConsistencyTraining(optimizer=Optimizer("rmsprop")), r"optimizer must be one of"),
    (ConsistencyTraining(model=Network(unfreeze=3)), r"model\.unfreeze: consistency training"),
    (SelfTraining(stopping=Stopping(patience=-1)), r"stopping\.patience must be"),
    (SelfTraining(selection=Selection("best")), r"selection\.criterion must be one of"),
    (SelfTraining(budget=Budget(100)), r"budget: self-training's stages stop early"),
    (SelfTraining(finetune=3), r"finetune must be a FineTune; got 3"),
])
def test_a_bad_setting_is_named_with_its_spec_before_any_data_is_read(estimator, message):
    with pytest.raises(FewLabelsError, match=message):
        estimator.fit([[0.0, 1.0]] * 4, [0, 1, -1, -1])


def test_a_run_records_every_setting_and_reads_back_this_and_the_earlier_form():
    model = ConsistencyTraining(model=Network("mlp", hidden_units=(16,)), optimizer="adam")
    recorded = model.params_json()
    assert recorded["model"]["hidden_units"] == [16] and recorded["optimizer"]["name"] == "adam"
    assert recorded["budget"] == {"steps": 1000, "seconds": None, "steps_per_epoch": 100}
    again = ConsistencyTraining.from_params_json(recorded)
    assert again.params_json() == recorded
    # a config.json of an earlier release recorded every setting flat
    earlier = {"method": "fixmatch", "steps": 40, "budget_s": None, "hidden_units": [16],
               "optimizer": "adam", "learning_rate": 0.01, "ema_momentum": 0.9, "seed": 2}
    old = ConsistencyTraining.from_params_json(earlier)
    assert (old.budget.steps, old.model.hidden_units, old.optimizer.learning_rate,
            old.average.momentum, old.seed) == (40, [16], 0.01, 0.9, 2)
    st = SelfTraining.from_params_json({"threshold": 0.7, "finetune": False,
                                        "finetune_epochs": 5, "epochs": 9})
    assert st.finetune is False and st.selection.threshold == 0.7 and st.stopping.epochs == 9


def test_the_command_line_options_are_the_flat_names_and_re_run_a_recorded_run():
    from fewlabels.cli_options import method_params

    options = {p.name: p.default for _, params, _ in method_params("fixmatch") for p in params}
    assert options["steps"] == 1000 and options["model"] == "auto"
    assert options["ema_momentum"] is None and "unfreeze" not in options
    assert "budget" not in options and "views" not in options
    st_options = {p.name for _, params, _ in method_params("self-training") for p in params}
    assert {"threshold", "finetune", "finetune_epochs", "unfreeze", "budget_s"} <= st_options
    assert "steps" not in st_options
    model = ConsistencyTraining(model=Network("mlp", hidden_units=(16,)), budget=Budget(40),
                                algorithm_params={"threshold": 0.8})
    flat = ConsistencyTraining.options_of(model.params_json())
    assert flat["hidden_units"] == [16] and flat["steps"] == 40
    rebuilt = ConsistencyTraining.for_method("fixmatch", **{
        k: v for k, v in flat.items() if k not in ("method", "algorithm_params")},
        **model.algorithm_params)
    assert rebuilt.params_json() == model.params_json()


def test_specs_follow_scikit_learns_parameter_protocol():
    from sklearn.base import clone

    model = TeacherStudent(ConsistencyTraining(budget=Budget(30)), rounds=2)
    twin = clone(model)
    assert twin.teacher is not model.teacher and twin.teacher.budget is not model.teacher.budget
    deep = {k: v for k, v in model.get_params(deep=True).items() if k != "teacher"}
    assert {k: v for k, v in twin.get_params(deep=True).items() if k != "teacher"} == deep
    assert deep["teacher__budget__steps"] == 30 and deep["teacher__budget"] == Budget(30)
    st = SelfTraining(stopping=Stopping(20))
    st.set_params(stopping__patience=3)
    assert st.stopping == Stopping(20, patience=3)
    with pytest.raises(FewLabelsError, match=r"Stopping has no setting 'patient'"):
        st.set_params(stopping__patient=3)
    assert repr(Network("cnn", dropout=0.2)) == "Network(architecture='cnn', dropout=0.2)"
    ensemble = TableEnsemble(graph="network")  # a bare value: the spec's shorthand
    ensemble.set_params(graph__n_neighbors=5, model__hidden_units=(16,))
    assert ensemble.graph == Graph("network", n_neighbors=5)
    assert clone(ensemble).get_params(deep=True)["model__hidden_units"] == (16,)
