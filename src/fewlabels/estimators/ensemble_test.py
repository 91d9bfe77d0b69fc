"""TableEnsemble: the members, their Keras form, the rounds, and the default's choices."""

import warnings

import numpy as np
import pytest

from fewlabels import Budget, Graph, TableEnsemble, load_estimator
from fewlabels.errors import FewLabelsWarning, InputError
from fewlabels.estimators import members as m

CLASSIC = ("linear", "kernel", "graph")
"""The members without the network (FixMatch), where a test is about the others."""


def _moons(n=200, seed=0, labeled_per_class=4):
    """Two interleaved half-circles: curved classes a line cannot split, with a few labels."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    y = np.arange(n) % 2
    x = np.stack([np.where(y == 0, np.cos(t), 1 - np.cos(t)),
                  np.where(y == 0, np.sin(t), 0.5 - np.sin(t))], axis=1)
    x += rng.normal(0, 0.08, x.shape)
    y_partial = np.full(n, -1)
    for c in (0, 1):
        y_partial[np.flatnonzero(y == c)[:labeled_per_class]] = c
    return x.astype(np.float32), y, y_partial


def test_keras_layers_compute_what_the_numpy_members_compute():
    from fewlabels.models.kernels import NeighbourVote, RBFFeatures

    rng = np.random.default_rng(0)
    anchors, queries = rng.normal(size=(30, 4)), rng.normal(size=(9, 4))
    rbf = RBFFeatures(30, 0.3)
    rbf.build((None, 4))
    rbf.set_weights([anchors.astype(np.float32)])
    np.testing.assert_allclose(np.asarray(rbf(queries.astype(np.float32))),
                               m.rbf(queries, anchors, 0.3), atol=1e-5)
    distributions = rng.dirichlet(np.ones(3), size=30)
    vote = NeighbourVote(30, 3, 5)
    vote.build((None, 4))
    vote.set_weights([anchors.astype(np.float32), distributions.astype(np.float32)])
    expected = m.graph_proba({"anchors": anchors, "distributions": distributions, "k": 5},
                             queries)
    np.testing.assert_allclose(np.asarray(vote(queries.astype(np.float32))), expected,
                               atol=1e-5)


def test_binary_linear_member_is_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    x, y, _ = _moons()
    fitted = m.fit_linear(x.astype(np.float64), y, 2, C=1.0)
    reference = LogisticRegression(max_iter=1000).fit(x, y).predict_proba(x)
    np.testing.assert_allclose(m.linear_proba(fitted, x.astype(np.float64)), reference,
                               atol=1e-4)


def test_transduction_holds_labels_the_final_fit_took_and_minus_one_elsewhere():
    x, _, y_partial = _moons()
    labels = np.where(y_partial < 0, -1, np.array([10, 20])[np.maximum(y_partial, 0)])
    model = TableEnsemble(budget=Budget(30)).fit(x, labels)
    assert isinstance(model.classes_, np.ndarray) and model.classes_.tolist() == [10, 20]
    labeled = labels >= 0
    np.testing.assert_array_equal(model.transduction_[labeled], labels[labeled])
    never = model.labeled_iter_ == -1  # rows the rounds left unlabeled, as scikit-learn's
    assert never.any() and np.all(model.transduction_[never] == -1)
    accepted = ~labeled & ~never
    assert accepted.sum() > 0 and set(model.transduction_[accepted]) <= {10, 20}
    # The Keras model predicts the pseudo-labels it was fitted on (the rounds' NumPy members).
    assert np.mean(model.predict(x[accepted]) == model.transduction_[accepted]) > 0.95


def test_self_training_the_ensemble_beats_its_members_on_the_labels_alone():
    x, y, y_partial = _moons()
    supervised = TableEnsemble(members=("linear", "kernel"), rounds=0).fit(x, y_partial)
    ensemble = TableEnsemble(members=CLASSIC).fit(x, y_partial)
    assert ensemble.score(x, y) >= supervised.score(x, y) + 0.05
    assert ensemble.n_iter_ >= 1 and ensemble.rounds_[0]["accepted"] > 0
    first = ensemble.rounds_[0]  # recorded in self-training's shape, class names as keys
    assert set(first["accepted_per_class"]) == {"0", "1"}
    assert sum(first["accepted_per_class"].values()) == first["accepted"]


def test_a_row_the_graph_never_reaches_votes_uniformly_not_for_nothing():
    # Two far-apart groups; only the first has labels, so label spreading never reaches
    # the second, whose rows must still get a distribution that sums to 1.
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 1, (20, 2)), rng.normal(100, 1, (20, 2))])
    y = np.full(40, -1)
    y[:2], y[2:4] = 0, 1
    graph = m.fit_graph(z, y, 2, k=5, alpha=0.2)
    np.testing.assert_allclose(graph["distributions"].sum(axis=1), 1.0)
    np.testing.assert_allclose(m.graph_proba(graph, z[30:]), 0.5)


def test_the_rounds_report_pseudo_label_accuracy_from_hidden_labels_only():
    x, y, y_partial = _moons()
    hidden = np.where(y_partial < 0, y, -1)
    model = TableEnsemble(members=CLASSIC).fit(x, y_partial, y_hidden=hidden)
    assert 0.9 < model.rounds_[0]["pseudo_label_accuracy"] <= 1.0
    assert "pseudo_label_accuracy" not in TableEnsemble(members=CLASSIC).fit(
        x, y_partial).rounds_[0]


def test_a_threshold_nothing_reaches_stops_after_no_round():
    x, _, y_partial = _moons()
    model = TableEnsemble(members=CLASSIC, threshold=1.0).fit(x, y_partial)
    assert model.n_iter_ == 0 and model.termination_condition_ == "no_change"
    assert np.all(model.labeled_iter_[y_partial < 0] == -1)


def test_each_member_is_a_stage_to_evaluate():
    x, y, y_partial = _moons()
    model = TableEnsemble(budget=Budget(30)).fit(x, y_partial)
    scores = {stage: model.evaluate(x, y, stage=stage)["accuracy"]
              for stage in ("linear", "kernel", "graph", "network", "final")}
    assert scores["graph"] > scores["linear"]  # curved classes, traced by the unlabeled rows
    assert scores["final"] == model.evaluate(x, y)["accuracy"]
    with pytest.raises(InputError, match="stage must be 'final' or a member"):
        TableEnsemble(members=("linear",)).fit(x, y_partial).evaluate(x, y, stage="graph")


def test_save_and_load_in_safe_mode_predict_the_same(tmp_path):
    from fewlabels.model_files import check_model_file

    x, _, y_partial = _moons()
    labels = np.array(["left", "right"], dtype=object)[np.maximum(y_partial, 0)]
    labels[y_partial < 0] = -1
    model = TableEnsemble(budget=Budget(30)).fit(x, labels)
    model.save(tmp_path)
    check_model_file(tmp_path / "model.keras")  # the inspector accepts the new layers
    loaded = load_estimator(tmp_path)
    assert isinstance(loaded, TableEnsemble) and loaded.classes_.tolist() == ["left", "right"]
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-6)


def test_a_class_without_labels_is_never_predicted():
    x, _, y_partial = _moons()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewLabelsWarning)
        model = TableEnsemble(budget=Budget(30)).fit(x, y_partial, classes=["a", "b", "never"])
    assert "never" not in set(model.predict(x))
    # The classic members give it 0; the network's softmax a little, a quarter of which
    # reaches the mean.
    assert model.evaluate(x, np.zeros(len(x), int), stage="linear")["confusion_matrix"][0][2] == 0
    assert model.predict_proba(x)[:, 2].max() < 0.05


def test_images_and_bad_members_are_refused_at_the_door():
    with pytest.raises(InputError, match="takes feature rows"):
        TableEnsemble().fit(np.zeros((4, 8, 8, 1)), [0, 1, -1, -1])
    with pytest.raises(InputError, match="members must be a non-empty list"):
        TableEnsemble(members=("linear", "forest")).fit(np.zeros((4, 2)), [0, 1, -1, -1])
    with pytest.raises(InputError, match=r"select must be one of \['average', 'cv', "
                                         r"'labels'\]; got 'vote'"):
        TableEnsemble(select="vote").fit(np.zeros((4, 2)), [0, 1, -1, -1])
    with pytest.raises(InputError, match=r"graph must be one of \['rows', "
                                         r"'network'\]; got 'pixels'"):
        TableEnsemble(graph="pixels").fit(np.zeros((4, 2)), [0, 1, -1, -1])


def test_the_kernel_anchors_are_capped_keeping_every_labeled_row():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 3))
    y = np.full(50, -1)
    y[[3, 40]] = [0, 1]
    anchors = m.kernel_anchors(z, y, 10, seed=0)
    assert len(anchors) == 10
    assert any(np.array_equal(a, z[40]) for a in anchors)


def test_calibrate_fits_a_temperature_out_of_fold_and_applies_it_before_the_threshold():
    from fewlabels.calibration import apply_temperature

    x, _, y_partial = _moons(labeled_per_class=10)
    plain = TableEnsemble(members=CLASSIC, rounds=1, seed=0).fit(x, y_partial)
    calibrated = TableEnsemble(members=CLASSIC, rounds=1, calibrate=True, seed=0).fit(
        x, y_partial)
    record = calibrated.calibration_
    assert record["temperature"] != 1.0 and {"ece_before", "ece_after"} <= set(record)
    assert calibrated.rounds_[0]["calibration"] == record
    assert plain.calibration_ is None and "calibration" not in plain.rounds_[0]
    # The threshold reads the calibrated probabilities: the first round accepts exactly the
    # pool rows whose tempered ensemble probability reaches it.
    start = TableEnsemble(members=CLASSIC, rounds=0, seed=0).fit(x, y_partial)  # round 1's
    pool = np.flatnonzero(y_partial < 0)
    proba = apply_temperature(start.predict_proba(x[pool]), record["temperature"])
    assert calibrated.rounds_[0]["accepted"] == int(np.sum(proba.max(axis=1) >= 0.8))
    assert calibrated.rounds_[0]["accepted"] != plain.rounds_[0]["accepted"]


def test_the_default_averages_four_members_the_network_being_fixmatch_on_the_rows():
    from fewlabels import ConsistencyTraining
    from fewlabels.estimators.ensemble import NETWORK_RECIPE

    assert TableEnsemble().members == ("linear", "kernel", "graph", "network")
    assert TableEnsemble()._spec("budget").steps == 600
    x, y, y_partial = _moons()
    model = TableEnsemble(budget=Budget(40), seed=3).fit(x, y_partial)
    alone = ConsistencyTraining(**NETWORK_RECIPE, steps=40, seed=3).fit(x, y_partial)
    assert NETWORK_RECIPE["method"] == "fixmatch"
    network = np.asarray(model._model_for("network")(x[:20]))  # the member inside the model
    np.testing.assert_allclose(network, alone.predict_proba(x[:20]), atol=1e-5)
    members = [model.evaluate(x, y, stage=s)["accuracy"] for s in m.MEMBERS]
    assert model.score(x, y) >= min(members)


def test_select_cv_keeps_the_member_with_the_best_out_of_fold_log_likelihood():
    from fewlabels.data.splits import stratified_folds

    x, y, y_partial = _moons(labeled_per_class=10)
    model = TableEnsemble(members=CLASSIC, select="cv", seed=0).fit(x, y_partial)
    choice = model.choice_
    assert choice["rule"] == "cross-validation" and choice["folds"] == 5
    assert set(choice["log_likelihood"]) == {*CLASSIC, "average"}
    assert choice["winner"] == max(choice["log_likelihood"], key=choice["log_likelihood"].get)
    assert model.member_names() == (list(CLASSIC) if choice["winner"] == "average"
                                    else [choice["winner"]])
    # The linear member's score, computed here by hand from its five refits.
    labeled = np.flatnonzero(y_partial >= 0)
    folds = stratified_folds(y_partial[labeled], 5, 0)
    mean, scale = m.standardization(x.astype(np.float64), model.scaling_)  # as the fit scaled
    z = (x - mean) / scale
    oof = np.zeros((len(labeled), 2))
    for f in range(5):
        hidden = y_partial.copy()
        hidden[labeled[folds == f]] = -1
        oof[folds == f] = m.linear_proba(m.fit_linear(z, hidden, 2, 10.0), z[labeled[folds == f]])
    assert choice["log_likelihood"]["linear"] == pytest.approx(
        m.log_likelihood(oof, y_partial[labeled]), abs=1e-3)
    # The moons are curved: the line is not what the folds choose.
    assert choice["winner"] != "linear"
    assert model.score(x, y) >= TableEnsemble(members=("linear",), seed=0).fit(
        x, y_partial).score(x, y)


def test_select_labels_sends_few_labels_to_the_classic_members_and_many_to_the_network():
    from fewlabels.estimators.ensemble import NETWORK_ALONE_FROM

    x, _, few = _moons(labeled_per_class=NETWORK_ALONE_FROM - 1)
    model = TableEnsemble(select="labels", budget=Budget(20)).fit(x, few)
    assert model.member_names() == list(CLASSIC) and model.network_ is None
    assert model.choice_["labels_in_rarest_class"] == NETWORK_ALONE_FROM - 1
    _, _, many = _moons(labeled_per_class=NETWORK_ALONE_FROM)
    model = TableEnsemble(select="labels", budget=Budget(20)).fit(x, many)
    assert model.member_names() == ["network"] and model.choice_["members"] == ["network"]
    assert [layer.name for layer in model.model_.layers if layer.name in m.MEMBERS] == [
        "network"]


def test_graph_on_network_features_spreads_labels_in_the_hidden_layer_and_saves(tmp_path):
    import keras

    x, _, y_partial = _moons()
    model = TableEnsemble(graph=Graph(features="network"), budget=Budget(30),
                          seed=1).fit(x, y_partial)
    hidden = keras.Model(model.network_.model_.input,
                         model.network_.model_.get_layer("dense_2").output)
    graph = model._model_for("graph")
    # The graph member's anchors are the hidden features of the training rows: a training
    # row's own features are at distance 0 from one anchor.
    anchors = graph.get_layer("graph").get_weights()[0]
    features = np.asarray(hidden(x[:5]))
    assert np.allclose(np.min(((anchors[None] - features[:, None]) ** 2).sum(-1), 1), 0,
                       atol=1e-6)
    rows = TableEnsemble(budget=Budget(30), seed=1).fit(x, y_partial)
    assert not np.allclose(graph(x), rows._model_for("graph")(x))
    pool = model.transduction_ >= 0  # it predicts the labels it was fitted on
    assert np.mean(model.predict(x[pool]) == model.transduction_[pool]) > 0.95
    model.save(tmp_path)
    np.testing.assert_allclose(load_estimator(tmp_path).predict_proba(x),
                               model.predict_proba(x), atol=1e-6)
    with pytest.raises(InputError, match="graph='network' needs the network"):
        TableEnsemble(members=CLASSIC, graph=Graph(features="network")).fit(x, y_partial)


def test_the_network_member_starts_from_a_pretrained_body_and_refuses_another_size(tmp_path):
    from fewlabels import Network
    from fewlabels.estimators.pretrain import pretrain
    from fewlabels.models.body import save_body_weights

    x, _, y_partial = _moons()
    body = save_body_weights(pretrain(x, steps=5, batch_size=32, seed=0).network,
                             tmp_path / "body.weights.h5")
    model = TableEnsemble(model=Network(backbone_weights=str(body)), budget=Budget(20),
                          seed=1).fit(x, y_partial)
    assert model.network_._spec("model").backbone_weights == str(body)
    assert model.params_json()["model"]["backbone_weights"] == str(body)
    with pytest.raises(InputError,
                       match=r"kernel is \(2, 32\) in the network, \(2, 64\) in the file"):
        TableEnsemble(model=Network(hidden_units=(32,), backbone_weights=str(body)),
                      budget=Budget(20)).fit(x, y_partial)


def test_the_earlier_flat_names_still_build_the_network_and_graph_settings():
    with pytest.warns(FutureWarning, match=r"TableEnsemble\(budget=Budget\(steps=\.\.\.\), "
                                           r"graph=Graph\(features=\.\.\.\)\)"):
        flat = TableEnsemble(network_steps=30, graph_features="network")
    assert flat.get_params(deep=True) == TableEnsemble(
        budget=Budget(30), graph=Graph(features="network")).get_params(deep=True)
    # a config.json of an earlier release recorded them flat
    assert TableEnsemble.from_params_json({"network_steps": 30, "n_neighbors": 5}).get_params() == \
        TableEnsemble(budget=Budget(30), graph=Graph(n_neighbors=5)).get_params()
