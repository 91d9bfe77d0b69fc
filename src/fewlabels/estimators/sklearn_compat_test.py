"""The estimators are scikit-learn classifiers: its estimator checks, clone, Pipeline,
GridSearchCV and cross_val_score."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fewlabels import Budget, ConsistencyTraining, SelfTraining, TableEnsemble, TeacherStudent

TINY_SELF_TRAINING = dict(hidden_units=(16,), epochs=20, patience=3, min_steps=0, rounds=1,
                          finetune=False, learning_rate=0.03)
TINY_CONSISTENCY = dict(hidden_units=(16,), steps=40, steps_per_epoch=20, learning_rate=0.05,
                        jit_compile=False)
SEMI_SUPERVISED = {
    "check_classifiers_classes": (
        "-1 marks unlabeled rows, as in scikit-learn's semi-supervised estimators; this "
        "check uses -1 as a class, and exempts those estimators by name."),
}


STOCHASTIC = {
    "check_sample_weight_equivalence_on_dense_data": (
        "a network trained on shuffled mini-batches: a row weighted 2 is not the same as the "
        "row twice (scikit-learn lists the same expected failure for its SGDClassifier)."),
}


def _expected_failures(estimator):
    if isinstance(estimator, SelfTraining) and estimator.estimator is None:
        return {**SEMI_SUPERVISED, **STOCHASTIC}
    return SEMI_SUPERVISED


@parametrize_with_checks([SelfTraining(**TINY_SELF_TRAINING),
                          ConsistencyTraining(**TINY_CONSISTENCY), TableEnsemble(budget=Budget(10)),
                          SelfTraining(estimator=LogisticRegression()),
                          TeacherStudent(ConsistencyTraining(**TINY_CONSISTENCY))],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def _labeled_blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0], [4, 4, 0], [0, 4, 4]], dtype=float)
    y = np.repeat(np.arange(3), 30)
    x = centers[y] + rng.normal(0, 0.7, (len(y), 3)) + 100.0  # unscaled: the scaler matters
    return x, np.array(["cat", "dog", "eel"])[y]


def test_clone_get_params_deep_and_set_params_follow_scikit_learn():
    from fewlabels import Network, Selection

    model = SelfTraining(model=Network(hidden_units=[8, 8]), selection=Selection(threshold=0.8))
    twin = clone(model)
    assert twin.get_params(deep=True) == model.get_params(deep=True)
    assert twin.model is not model.model and twin.model == model.model  # a clone of the spec
    assert twin.model.hidden_units == [8, 8] and isinstance(twin.model.hidden_units, list)
    assert "selection=Selection(threshold=0.8)" in repr(model)
    pipe = Pipeline([("scale", StandardScaler()), ("st", model)])
    pipe.set_params(st__selection__threshold=0.7)  # a spec's setting, as a nested estimator's
    assert pipe.get_params()["st__selection__threshold"] == 0.7


def test_pipeline_grid_search_and_cross_val_score_take_self_training():
    x, y = _labeled_blobs()
    y_partial = y.astype(object)
    y_partial[np.random.default_rng(1).random(len(y)) < 0.6] = -1  # -1 marks unlabeled
    pipe = Pipeline([("scale", StandardScaler()), ("st", SelfTraining(**TINY_SELF_TRAINING))])
    pipe.fit(x, y_partial)
    assert list(pipe.classes_) == ["cat", "dog", "eel"]
    assert set(pipe.predict(x)) <= {"cat", "dog", "eel"} and pipe.score(x, y) > 0.9
    search = GridSearchCV(pipe, {"st__selection__threshold": [0.8, 0.95]}, cv=2)
    search.fit(x, y)  # (the default selection, None, becomes the Selection it stands for)
    assert search.best_params_["st__selection__threshold"] in (0.8, 0.95)
    with pytest.warns(FutureWarning, match=r"set_params\(selection__threshold=\.\.\.\)"):
        pipe.set_params(st__threshold=0.7)  # an earlier release's flat name
    assert pipe.named_steps["st"].selection.threshold == 0.7
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.9


def test_consistency_training_in_a_pipeline_predicts_labels():
    x, y = _labeled_blobs()
    y_partial = y.astype(object)
    y_partial[np.random.default_rng(2).random(len(y)) < 0.6] = -1
    pipe = Pipeline([("scale", StandardScaler()),
                     ("fixmatch", ConsistencyTraining(**TINY_CONSISTENCY))])
    pipe.fit(x, y_partial)
    assert pipe.predict(x[:5]).dtype.kind in "OU" and pipe.score(x, y) > 0.8


def test_predicting_before_fit_is_scikit_learns_not_fitted_error_too():
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    from fewlabels.errors import NotFittedError

    with pytest.raises(SklearnNotFittedError) as raised:
        SelfTraining().predict(np.zeros((2, 3)))
    assert isinstance(raised.value, NotFittedError)
