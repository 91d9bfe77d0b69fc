"""Tests for SemiSupervisedModel: one pass over all views, monitoring metrics, plain Keras."""

import keras
import numpy as np

from fewlabels.testing import conformance as c


def test_monitoring_logs_mask_rate_class_shares_and_pseudo_label_accuracy():
    model = c.model_for("fixmatch", confident=True)  # predicts class 0 at 0.97 everywhere
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    x, y = c.batch()
    x["hidden"] = np.array([0, 0, 0, 1, 2, 3, -1, -1])
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["mask_rate"] == 1.0
    assert logs["share_0"] == 1.0 and logs["share_1"] == 0.0
    assert abs(logs["pseudo_label_accuracy"] - 0.5) < 1e-6  # 3 of the 6 known are class 0
    assert logs["unsup_loss"] > 0 and logs["sup_loss"] > 0
    assert int(model.step.numpy()) == 1


def test_the_student_pass_is_one_batch_over_labeled_weak_and_strong_views():
    model = c.model_for("fixmatch", confident=False)
    x, _ = c.batch(n_labeled=3, n_unlabeled=5)
    calls = []
    original = model.backbone.call

    def spy(inputs, *args, **kwargs):
        calls.append(inputs.shape[0])
        return original(inputs, *args, **kwargs)

    model.backbone.call = spy
    out = model(x, training=True)
    assert calls == [13]  # 3 labeled + 5 weak + 5 strong, in one pass
    assert [out[k].shape[0] for k in ("labeled", "weak", "strong")] == [3, 5, 5]


def test_evaluate_and_predict_on_plain_images_are_plain_keras():
    model = c.model_for("pseudo-label", confident=True)
    model.compile(optimizer="adam")
    x = np.random.default_rng(0).uniform(0, 1, (10, *c.SHAPE)).astype("float32")
    proba = model.predict(x, verbose=0)
    assert proba.shape == (10, c.N_CLASSES)
    np.testing.assert_allclose(proba[:, 0], 0.97, rtol=1e-5)
    loss = model.evaluate(x, np.zeros(10, "int64"), verbose=0, return_dict=True)["loss"]
    assert abs(loss + np.log(0.97)) < 1e-4


def test_a_non_algorithm_is_refused_by_name():
    import pytest

    from fewlabels.errors import FewLabelsError
    from fewlabels.ssl_model import SemiSupervisedModel

    with pytest.raises(FewLabelsError, match="algorithm must be a fewlabels Algorithm; got 'x'"):
        SemiSupervisedModel(c.student(), "x")
