"""Tests for IOMatch: its pure pieces, its gating of foreign-looking items, and a fit."""

import keras
import numpy as np
import pytest
from keras import ops

from fewlabels import Budget, FewLabelsError
from fewlabels.algorithms import create
from fewlabels.algorithms.iomatch import (
    one_vs_all,
    one_vs_all_loss,
    open_set_targets,
    outlier_scores,
)
from fewlabels.testing import conformance as c

PROBS = np.array([[0.9, 0.05, 0.05], [0.2, 0.5, 0.3]], dtype="float32")


def np_(x):
    return ops.convert_to_numpy(x)


def test_one_vs_all_gives_each_class_a_pair_that_sums_to_one():
    logits = np.array([[0.0, 2.0, -1.0, 0.0, -2.0, 1.0]], dtype="float32")  # out | in
    outside, inside = map(np_, one_vs_all(logits))
    np.testing.assert_allclose(outside + inside, 1.0, rtol=1e-6)
    np.testing.assert_allclose(inside[0, 0], 0.5, rtol=1e-6)  # equal logits: undecided
    assert inside[0, 1] < 0.05 and inside[0, 2] > 0.85


def test_the_outlier_score_is_the_chance_of_not_being_the_predicted_class():
    outside = np.array([[0.1, 0.9, 0.9], [0.9, 0.9, 0.9]], dtype="float32")
    scores = np_(outlier_scores(PROBS, outside))
    np.testing.assert_allclose(scores, [0.9 * 0.1 + 0.1 * 0.9, 0.9], rtol=1e-6)


def test_open_set_targets_keep_the_known_mass_the_heads_accept_and_give_the_rest_to_foreign():
    accept = np_(open_set_targets(PROBS, np.ones_like(PROBS)))
    np.testing.assert_allclose(accept, np.c_[PROBS, [0.0, 0.0]], atol=1e-7)
    reject = np_(open_set_targets(PROBS, np.zeros_like(PROBS)))
    np.testing.assert_allclose(reject, [[0, 0, 0, 1], [0, 0, 0, 1]], atol=1e-7)
    half = np_(open_set_targets(PROBS, np.full_like(PROBS, 0.5)))
    np.testing.assert_allclose(half.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(half[:, -1], 0.5, rtol=1e-6)


def test_the_one_vs_all_loss_is_low_only_when_the_heads_answer_right():
    labels = np.array([0, 2])
    right = np.array([[-5, 5, 5, 5, -5, -5], [5, 5, -5, -5, -5, 5]], dtype="float32")
    wrong = -right
    assert float(np_(one_vs_all_loss(right, labels))) < 0.05
    assert float(np_(one_vs_all_loss(wrong, labels))) > 15


def _algorithm(**params):
    algorithm = create("iomatch", **params)
    algorithm.build_state(c.N_CLASSES, 8, c.student())
    return algorithm


def _outputs(n: int, outside: float, confident: float = 0.97) -> dict:
    """Confident weak and strong predictions of class 0; one-vs-all logits whose "not the
    class" probability is `outside` for every class."""
    rest = (1 - confident) / (c.N_CLASSES - 1)
    probs = np.tile([confident, rest, rest, rest], (n, 1)).astype("float32")
    logit = np.log(outside / (1 - outside))
    ova = np.tile(np.r_[np.full(c.N_CLASSES, logit), np.zeros(c.N_CLASSES)], (n, 1))
    return {"weak": probs, "strong": probs, "ova_weak": ova.astype("float32"),
            "ova_labeled": ova[:2].astype("float32"),
            "open_strong": np.zeros((n, c.N_CLASSES + 1), "float32")}


@pytest.mark.parametrize("outside, pseudo_labeled", [(0.1, True), (0.9, False)])
def test_a_confident_item_is_pseudo_labeled_only_when_the_heads_call_it_known(outside,
                                                                              pseudo_labeled):
    algorithm = _algorithm(distribution_alignment=False)
    out = _outputs(4, outside)
    batch = {"outputs": out, "batch_labels": np.array([0, 1])}
    terms = algorithm.unsupervised(out["weak"], out["strong"], batch, None)
    np.testing.assert_array_equal(np_(terms["mask"]), np.full(4, float(pseudo_labeled)))


def test_an_item_the_heads_call_foreign_trains_the_open_set_head_toward_foreign():
    algorithm = _algorithm(distribution_alignment=False, lambda_ova=0.0)
    out = _outputs(4, outside=0.9)
    batch = {"outputs": out, "batch_labels": np.array([0, 1])}
    logits = keras.Variable(np.zeros((4, c.N_CLASSES + 1), "float32"))

    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = algorithm.unsupervised(out["weak"], out["strong"],
                                      {**batch, "outputs": {**out, "open_strong": logits}},
                                      None)["loss"]
    grad = np_(tape.gradient(loss, logits.value))
    assert np.all(grad[:, -1] < 0) and np.all(grad[:, :-1] > 0)  # descent raises "foreign"


def test_a_network_without_an_output_layer_named_probabilities_is_refused_by_name():
    inputs = keras.Input((3,))
    network = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    with pytest.raises(FewLabelsError, match="iomatch adds heads on the network's features"):
        create("iomatch").build_state(2, 4, network)


@pytest.mark.parametrize("params, message", [
    ({"outlier_threshold": 1.5}, "outlier_threshold must be in"),
    ({"lambda_ova": -1}, "lambda_ova must be a number >= 0"),
    ({"lambda_open": "1"}, "lambda_open must be a number >= 0"),
    ({"projection": 0}, "projection must be an integer >= 1"),
    ({"open_after": 1.0}, r"open_after must be in \[0, 1\); got 1.0"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(FewLabelsError, match=message):
        create("iomatch", **params)


def test_a_fit_on_images_trains_the_heads_then_keeps_only_the_network(tmp_path):
    from fewlabels.data import hide_labels
    from fewlabels.data.images import load_image_dataset
    from fewlabels.estimators import load_estimator
    from fewlabels.estimators.consistency import ConsistencyTraining

    data = load_image_dataset("digits")
    y, _ = hide_labels(data.y, 10, seed=0)
    model = ConsistencyTraining(method="iomatch", budget=Budget(80, steps_per_epoch=40),
                                batch_size=16, uratio=2).fit(data.x, y)
    assert model.algorithm_["projection"] == 128 and model.algorithm_["lambda_ova"] == 1.0
    assert not any("iomatch" in w.name for w in model.model_.weights)  # the heads are gone
    assert model.evaluate(data.x_test, data.y_test)["accuracy"] > 0.4
    model.save(tmp_path / "run")
    np.testing.assert_allclose(load_estimator(tmp_path / "run").predict_proba(data.x_test[:8]),
                               model.predict_proba(data.x_test[:8]), atol=1e-6)
