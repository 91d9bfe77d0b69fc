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

from fewlabels import Budget, SelfTraining
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
    first = model.rounds_[0]  # 5 rows a round (scikit-learn's k_best), shared by the prior:
    assert first["accepted"] == 6  # ceil(5 / 3) = 2 for each of the 3 classes
    assert set(first["accepted_per_class"].values()) == {2}
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


def _iris_two_labels():
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    y_partial = np.full(len(y), -1)
    y_partial[[0, 50]] = y[[0, 50]]  # one label of each of two classes
    return x, y_partial


def test_rounds_none_runs_k_best_until_all_are_labeled_as_scikit_learns_test_k_best(capsys):
    # scikit-learn's test_k_best with two labeled rows (fewlabels refuses one class only).
    x, y_partial = _iris_two_labels()
    model = SelfTraining(KNeighborsClassifier(n_neighbors=1), criterion="k_best", k_best=10,
                         rounds=None, class_balance=False, verbose=1).fit(x, y_partial)
    n_unlabeled = len(x) - 2
    n_iter = -(-n_unlabeled // 10)
    assert model.n_iter_ == n_iter and model.termination_condition_ == "all_labeled"
    assert np.sum(model.labeled_iter_ == 0) == 2
    for i in range(1, n_iter):
        assert np.sum(model.labeled_iter_ == i) == 10
    assert np.sum(model.labeled_iter_ == n_iter) == n_unlabeled % 10
    out = capsys.readouterr().out
    assert f"End of iteration {n_iter}, added {n_unlabeled % 10} new labels." in out


def test_the_estimator_is_the_first_positional_parameter_and_estimator_is_the_fit_learner():
    x, _, y_partial = _blobs()
    model = SelfTraining(LogisticRegression(), rounds=1).fit(x, y_partial)
    assert isinstance(model.estimator, LogisticRegression)
    assert isinstance(model.estimator_, LogisticRegression) and model.estimator_ is not \
        model.estimator
    np.testing.assert_allclose(model.predict_log_proba(x[:5]),
                               np.log(model.predict_proba(x[:5])))
    np.testing.assert_allclose(model.decision_function(x[:5]),
                               model.estimator_.decision_function(x[:5]))


def test_a_learner_without_predict_proba_raises_scikit_learns_attribute_error():
    from fewlabels.errors import MissingMethodError

    x, _, y_partial = _blobs()
    with pytest.raises(AttributeError, match="has no attribute 'predict_proba'") as raised:
        SelfTraining(SVC()).fit(x, y_partial)
    assert isinstance(raised.value, MissingMethodError)  # an InputError too: exit code 2
    assert hasattr(SelfTraining(SVC()), "decision_function")  # SVC has one
    assert not hasattr(SelfTraining(), "decision_function")  # a network has none


def test_sample_weight_reaches_the_learner_and_a_bad_weight_is_named():
    x, _, y_partial = _blobs(n_labeled_per_class=10)
    weight = np.ones(len(x))
    plain = SelfTraining(LogisticRegression(), rounds=0).fit(x, y_partial)
    same = SelfTraining(LogisticRegression(), rounds=0).fit(x, y_partial, sample_weight=weight)
    np.testing.assert_allclose(plain.predict_proba(x), same.predict_proba(x))
    weight[np.flatnonzero(y_partial == 0)] = 50.0  # class 0's rows weigh more
    heavy = SelfTraining(LogisticRegression(), rounds=0).fit(x, y_partial, sample_weight=weight)
    assert np.mean(heavy.predict(x) == 0) > np.mean(plain.predict(x) == 0)
    weight[3] = -1.0
    with pytest.raises(InputError, match="sample_weight must be finite and >= 0; row 3"):
        SelfTraining(LogisticRegression()).fit(x, y_partial, sample_weight=weight)
    with pytest.raises(InputError, match="needs an estimator whose fit takes sample_weight"):
        SelfTraining(KNeighborsClassifier()).fit(x, y_partial, sample_weight=np.ones(len(x)))


def test_sparse_rows_reach_a_scikit_learn_learner_and_other_methods_refuse_them():
    from scipy import sparse

    from fewlabels import TableEnsemble

    x, _, y_partial = _blobs()
    dense = SelfTraining(LogisticRegression(), rounds=2).fit(x.astype(np.float64), y_partial)
    csr = SelfTraining(LogisticRegression(), rounds=2).fit(sparse.csr_matrix(x), y_partial)
    np.testing.assert_allclose(csr.predict_proba(sparse.csc_matrix(x)),
                               dense.predict_proba(x), atol=1e-4)  # float32 rows
    np.testing.assert_array_equal(csr.transduction_, dense.transduction_)
    bad = sparse.csr_matrix(x)
    bad.data[4] = np.nan
    with pytest.raises(InputError, match="X contains NaN or inf"):
        SelfTraining(LogisticRegression()).fit(bad, y_partial)
    with pytest.raises(TypeError, match="X is a sparse matrix"):
        TableEnsemble().fit(sparse.csr_matrix(x), y_partial)


def test_a_budget_with_a_scikit_learn_learner_is_refused_by_name():
    x, _, y_partial = _blobs()
    with pytest.raises(InputError, match="budget sizes a network's training passes"):
        SelfTraining(LogisticRegression(), budget=Budget(seconds=10.0)).fit(x, y_partial)
