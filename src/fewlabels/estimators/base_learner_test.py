"""Self-training around a scikit-learn classifier: the learner is a fresh clone fitted on
the labeled and pseudo-labeled rows; selection, balance, calibration and records are
self-training's; what cannot be saved safely is refused at the door."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from fewlabels import SelfTraining
from fewlabels.errors import InputError
from fewlabels.estimators.base_learner import classifier_proba
from fewlabels.training.checkpoint import CheckpointPolicy


def _blobs(n_labeled_per_class=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0], [3, 3], [0, 4]], dtype=float)
    y = np.repeat(np.arange(3), 40)
    x = (centers[y] + rng.normal(0, 0.8, (len(y), 2))).astype(np.float32)  # as fit keeps it
    y_partial = np.full(len(y), -1)
    for c in range(3):
        y_partial[np.flatnonzero(y == c)[:n_labeled_per_class]] = c
    return x, y, y_partial


def test_the_fitted_learner_is_a_clone_fitted_on_labels_and_every_pseudo_label():
    x, y, y_partial = _blobs()
    model = SelfTraining(estimator=LogisticRegression(C=3.0), threshold=0.8, rounds=3,
                         class_balance=False).fit(x, y_partial)
    used = model.labeled_iter_ >= 0
    assert model.n_iter_ >= 1 and np.sum(model.labeled_iter_ > 0) > 0
    manual = LogisticRegression(C=3.0).fit(x[used], model.transduction_[used])
    np.testing.assert_allclose(model.predict_proba(x), manual.predict_proba(x), atol=1e-5)
    assert model.network_ == "estimator" and model.epochs_run_ == 0
    assert model.score(x, y) > 0.9


def test_no_rounds_is_the_estimator_on_the_labeled_rows_alone():
    x, _, y_partial = _blobs()
    model = SelfTraining(estimator=LogisticRegression(), rounds=0).fit(x, y_partial)
    labeled = y_partial >= 0
    manual = LogisticRegression().fit(x[labeled], y_partial[labeled])
    np.testing.assert_allclose(model.predict_proba(x), manual.predict_proba(x), atol=1e-5)
    assert model.n_validation_ == 0  # every label trains when nothing is calibrated


def test_rounds_record_selection_balance_calibration_and_pseudo_label_accuracy():
    x, y, y_partial = _blobs(n_labeled_per_class=10)
    hidden = np.where(y_partial < 0, y, -1)
    model = SelfTraining(estimator=LogisticRegression(), calibrate=True, criterion="k_best",
                         k_best=5, rounds=2).fit(x, y_partial, y_hidden=hidden)
    first = model.rounds_[0]
    assert first["accepted"] == 15 and set(first["accepted_per_class"].values()) == {5}
    assert {"temperature", "ece_before", "ece_after"} <= set(first["calibration"])
    assert 0.0 <= first["pseudo_label_accuracy"] <= 1.0
    assert model.n_validation_ == 6  # calibration holds out validation_fraction of labels


def test_probabilities_have_a_zero_column_for_a_class_the_learner_never_saw():
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    learner = LogisticRegression().fit(x, np.array([0, 0, 2, 2]))
    proba = classifier_proba(learner, x, 3)
    assert proba.shape == (4, 3) and np.all(proba[:, 1] == 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_nested_parameters_clone_and_grid_search_reach_the_estimator():
    x, y, _ = _blobs()
    model = SelfTraining(estimator=LogisticRegression(C=2.0))
    assert model.get_params()["estimator__C"] == 2.0
    assert clone(model).estimator is not model.estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(SelfTraining(estimator=LogisticRegression(), rounds=1),
                              {"estimator__C": [0.1, 10.0]}, cv=3).fit(x, y)
    assert search.best_params_["estimator__C"] in (0.1, 10.0)


@pytest.mark.parametrize(("params", "match"), [
    ({"estimator": LogisticRegression}, "instance"),
    ({"estimator": object()}, "predict_proba"),
    ({"estimator": LogisticRegression(), "model": "mlp"}, "model='auto'"),
    ({"estimator": LogisticRegression(), "soft_labels": True}, "hard labels"),
    ({"estimator": KNeighborsClassifier(), "pseudo_weight": 0.5}, "sample_weight"),
])
def test_bad_combinations_are_refused_by_name(params, match):
    x, _, y_partial = _blobs()
    with pytest.raises(InputError, match=match):
        SelfTraining(**params).fit(x, y_partial)


def test_images_checkpoints_and_saving_are_refused(tmp_path):
    x, _, y_partial = _blobs()
    model = SelfTraining(estimator=LogisticRegression())
    with pytest.raises(InputError, match="feature rows"):
        model.fit(np.zeros((6, 4, 4, 1)), np.array([0, 1, -1, -1, 0, 1]))
    with pytest.raises(InputError, match="cannot be checkpointed"):
        model.fit(x, y_partial, checkpoint=CheckpointPolicy(tmp_path / "ckpt"))
    model.fit(x, y_partial)
    with pytest.raises(InputError, match="cannot be saved"):
        model.save(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_predict_is_the_learners_own_predict_in_the_callers_labels():
    x, _, y_partial = _blobs()
    names = np.array(["ant", "bee", "cat"])
    y_named = np.array([-1 if c < 0 else names[c] for c in y_partial], dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SVC(probability=True) is deprecated in sklearn 1.9
        model = SelfTraining(estimator=SVC(probability=True, random_state=0)).fit(x, y_named)
        np.testing.assert_array_equal(model.predict(x), names[model.model_.predict(x)])
