"""Tests for SemiSupervisedModel: its passes over the views, monitoring metrics, plain Keras."""

import keras
import numpy as np
import pytest

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


@pytest.mark.parametrize(("method", "separate", "passes"), [
    ("fixmatch", False, [13]),     # 3 labeled + 5 weak + 5 strong in one pass: BatchNorm sees all
    ("fixmatch", True, [8, 5]),    # labeled + strong, then the weak view alone for targets
    ("pseudo-label", True, [8]),   # it trains the weak view itself: never separated
    ("meanteacher", False, [8]),   # its teacher, not the student, sees the weak view
    ("supervised", False, [3]),
])
def test_the_student_passes_cover_exactly_the_views_each_algorithm_needs(
        method, separate, passes):
    model = c.model_for(method, confident=False, separate_weak_pass=separate)
    x, _ = c.batch(n_labeled=3, n_unlabeled=5)
    calls = []
    original = model.backbone.call

    def spy(inputs, *args, **kwargs):
        calls.append(inputs.shape[0])
        return original(inputs, *args, **kwargs)

    model.backbone.call = spy
    out = model(x, training=True)
    assert calls == passes
    assert out["labeled"].shape[0] == 3


def test_a_separate_weak_pass_has_no_gradient_and_the_strong_pass_has_one():
    import tensorflow as tf

    model = c.model_for("fixmatch", confident=False, separate_weak_pass=True)
    assert model.get_config()["separate_weak_pass"] is True
    x, _ = c.batch(n_labeled=3, n_unlabeled=5)
    weights = model.backbone.trainable_variables
    # A class-weighted sum: at the uniform predictions of this student, sum(p ** 2) has an
    # exactly zero gradient, so only rounding error could make it nonzero.
    classes = tf.range(c.N_CLASSES, dtype="float32")
    with tf.GradientTape(persistent=True) as tape:
        out = model(x, training=True)
        weak = tf.reduce_sum(out["weak"] * classes)
        strong = tf.reduce_sum(out["strong"] * classes)
    assert all(g is None for g in tape.gradient(weak, weights))
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0
               for g in tape.gradient(strong, weights))


def test_evaluate_and_predict_on_plain_images_are_plain_keras():
    model = c.model_for("pseudo-label", confident=True)
    model.compile(optimizer="adam")
    x = np.random.default_rng(0).uniform(0, 1, (10, *c.SHAPE)).astype("float32")
    proba = model.predict(x, verbose=0)
    assert proba.shape == (10, c.N_CLASSES)
    np.testing.assert_allclose(proba[:, 0], 0.97, rtol=1e-5)
    loss = model.evaluate(x, np.zeros(10, "int64"), verbose=0, return_dict=True)["loss"]
    assert abs(loss + np.log(0.97)) < 1e-4


def test_compile_refuses_a_loss_since_the_algorithm_is_the_loss():
    from fewlabels.errors import FewLabelsError

    model = c.model_for("fixmatch", confident=True)
    with pytest.raises(FewLabelsError, match="takes its loss from its algorithm"):
        model.compile(optimizer="sgd", loss="mse")


def test_compute_loss_only_computes_and_the_step_updates_state_after_the_weights():
    from fewlabels.algorithms import create
    from fewlabels.ssl_model import SemiSupervisedModel

    model = SemiSupervisedModel(c.student(confident=False), create("meanteacher"), 8,
                                ema_momentum=0.9)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    x, y = c.batch()

    def values(variables):
        return [keras.ops.convert_to_numpy(v) for v in variables]

    state = values(model.non_trainable_variables)
    initial = values(model.backbone.trainable_variables)
    model.compute_loss(x, y, model(x, training=True), training=True)
    for before, after in zip(state, values(model.non_trainable_variables), strict=True):
        np.testing.assert_array_equal(before, after)  # no step, teacher or average moved
    model.train_on_batch(x, y)
    assert int(keras.ops.convert_to_numpy(model.step)) == 1
    updated = values(model.backbone.trainable_variables)
    assert not np.allclose(initial[0], updated[0])
    # The first update of the average (momentum 0.1 after TensorFlow's warm-up) takes in
    # the weights the optimizer produced, not those the loss was computed with.
    np.testing.assert_allclose(values(model.ema_weights)[0],
                               0.1 * initial[0] + 0.9 * updated[0], rtol=1e-5, atol=1e-6)


def test_a_non_algorithm_is_refused_by_name():
    from fewlabels.errors import FewLabelsError
    from fewlabels.ssl_model import SemiSupervisedModel

    with pytest.raises(FewLabelsError, match="algorithm must be a fewlabels Algorithm; got 'x'"):
        SemiSupervisedModel(c.student(), "x")


def test_the_weight_average_warms_up_then_keeps_its_momentum():
    from fewlabels.algorithms.base import warmed_up_momentum

    def momentum(n, warmup):
        return float(warmed_up_momentum(0.999, n, warmup))

    assert momentum(1, 9.0) == pytest.approx(0.1)  # TensorFlow's (1 + 0) / (10 + 0)
    assert momentum(91, 9.0) == pytest.approx(0.91)
    assert momentum(1, 1.0) == pytest.approx(0.5)  # Mean Teacher's 1 - 1 / (1 + 1)
    assert momentum(10**6, 9.0) == pytest.approx(0.999)  # then the full momentum
    assert momentum(1, 0.0) == pytest.approx(0.999)  # no warm-up


@pytest.mark.parametrize("warmup", [9.0, 0.0])
def test_the_evaluation_average_follows_the_warm_up_inside_the_training_step(warmup):
    from fewlabels.algorithms import create
    from fewlabels.ssl_model import SemiSupervisedModel

    model = SemiSupervisedModel(c.student(confident=False), create("supervised"), 8,
                                ema_momentum=0.999, ema_warmup=warmup)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    x, y = c.batch()

    def weights():
        return [keras.ops.convert_to_numpy(v) for v in model.backbone.trainable_variables]

    expected = weights()
    for n in range(1, 4):
        before = weights()
        model.train_on_batch(x, y)
        # The step averages in the weights it produced (after the optimizer's update, as
        # Keras's `use_ema` and USB do).
        after = weights()
        m = 0.999 if warmup == 0 else min(0.999, n / (n + warmup))
        expected = [m * e + (1 - m) * w for e, w in zip(expected, after, strict=True)]
    assert not np.allclose(before[0], after[0])  # the weights did move
    for shadow, e in zip(model.ema_weights, expected, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(shadow), e, rtol=1e-5, atol=1e-6)
    assert model.get_config()["ema_warmup"] == warmup


def test_mean_teachers_warmed_up_teacher_is_the_mean_of_the_students_weights_so_far():
    from fewlabels.algorithms import create

    student = c.student(confident=False)
    start = [keras.ops.convert_to_numpy(w) for w in student.weights]
    for warmup, expected_shift in ((1.0, np.mean([0.0, 1.0, 4.0, -2.0])),
                                   (0.0, 0.001 * (0.999**2 * 1 + 0.999 * 4 - 2))):
        algorithm = create("meanteacher", teacher_warmup=warmup)
        algorithm.build_state(c.N_CLASSES, 8, student)
        for step, shift in enumerate((1.0, 4.0, -2.0), start=1):
            for w, w0 in zip(student.weights, start, strict=True):
                w.assign(w0 + shift)
            algorithm.after_step(student, step)
        for t, w0 in zip(algorithm.teacher.weights, start, strict=True):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(t), w0 + expected_shift,
                                       rtol=1e-5, atol=1e-6)
        for w, w0 in zip(student.weights, start, strict=True):
            w.assign(w0)


def test_bad_warm_ups_and_teacher_momentum_are_refused_by_name():
    from fewlabels.algorithms import create
    from fewlabels.errors import FewLabelsError
    from fewlabels.ssl_model import SemiSupervisedModel

    with pytest.raises(FewLabelsError, match=r"ema_warmup must be >= 0; got -1"):
        SemiSupervisedModel(c.student(), create("fixmatch"), 4, ema_momentum=0.9,
                            ema_warmup=-1)
    with pytest.raises(FewLabelsError, match=r"teacher_warmup must be >= 0; got -0.5"):
        create("meanteacher", teacher_warmup=-0.5)
    with pytest.raises(FewLabelsError, match=r"teacher_momentum must be in \[0, 1\); got 1.5"):
        create("meanteacher", teacher_momentum=1.5)


def test_ema_targets_come_from_the_weight_average_in_inference_mode_with_no_gradient():
    import tensorflow as tf

    from fewlabels.algorithms import create
    from fewlabels.ssl_model import SemiSupervisedModel

    student = c.student(confident=False)
    model = SemiSupervisedModel(student, create("fixmatch"), 8, ema_momentum=0.9,
                                ema_targets=True)
    assert model.get_config()["ema_targets"] is True
    # the average: confident on class 0; the network itself: uniform
    model.ema_weights[1].assign(c.CONFIDENT)
    x, _ = c.batch(n_labeled=3, n_unlabeled=5)
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        weak = tf.reduce_sum(out["weak"] * tf.range(c.N_CLASSES, dtype="float32"))
    np.testing.assert_allclose(out["weak"].numpy(), np.tile(np.exp(c.CONFIDENT), (5, 1)),
                               rtol=1e-5)
    np.testing.assert_allclose(out["strong"].numpy(), 0.25, rtol=1e-5)  # the network's own
    assert all(g is None for g in tape.gradient(weak, student.trainable_variables))
    np.testing.assert_array_equal(student.layers[-1].bias.numpy(), np.zeros(c.N_CLASSES))
    with pytest.raises(Exception, match="needs ema_momentum > 0"):
        SemiSupervisedModel(c.student(), create("fixmatch"), 8, ema_targets=True)


def _monitor_epochs(monitor, shares, mask_rate=0.5, epochs=3):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(epochs):
            monitor.on_epoch_end(epoch, {"mask_rate": mask_rate,
                                         **{f"share_{c}": s for c, s in enumerate(shares)}})
    return [str(w.message) for w in caught]


def test_the_collapse_warning_is_quiet_on_a_healthy_run_and_fires_on_a_collapse():
    from fewlabels.ssl_model import CollapseMonitor

    prior = [0.05, 0.12, *[0.83 / 8] * 8]  # digits-like: small classes, small counts
    healthy = [0.11, 0.27, *[0.62 / 8] * 8]  # twice its share, but no class dominates
    assert _monitor_epochs(CollapseMonitor(prior, list("abcdefghij")), healthy) == []
    collapsed = [0.80, 0.05, *[0.15 / 8] * 8]
    messages = _monitor_epochs(CollapseMonitor(prior, list("abcdefghij"), advice="Try X."),
                               collapsed)
    assert len(messages) == 1 and "collapse onto class 'a' (80%" in messages[0]
    assert messages[0].endswith("Try X.")


@pytest.mark.parametrize(("method", "params", "said", "unsaid"), [
    ("fixmatch", {}, ["flexmatch or freematch", "--distribution-alignment"], []),
    ("flexmatch", {}, ["--distribution-alignment"], ["flexmatch"]),
    ("flexmatch", {"distribution_alignment": True}, ["more labels"],
     ["flexmatch", "alignment"]),
    ("freematch", {}, ["--lambda-f"], ["freematch"]),
    ("softmatch", {}, ["--method fixmatch"], ["softmatch"]),
])
def test_the_collapse_advice_never_suggests_what_the_run_already_does(method, params, said,
                                                                      unsaid):
    from fewlabels.algorithms import create

    advice = create(method, **params).collapse_advice()
    assert all(s in advice for s in said), advice
    assert not any(u in advice for u in unsaid), advice
