"""The conformance suite, run against every registered algorithm (`fewlabels.testing`)."""

import pytest

from fewlabels.algorithms import names
from fewlabels.testing import conformance as c


def test_every_registered_algorithm_has_a_conformance_entry():
    assert sorted(names()) == sorted(c.CASES), "add one line to conformance.CASES"


@pytest.mark.parametrize("check", c.CHECKS)
@pytest.mark.parametrize("name", names())
def test_every_registered_algorithm_passes(name, check):
    c.CHECKS[check](name)


@pytest.mark.parametrize("name", names())
def test_config_round_trips_and_a_saved_model_reloads_safely(name, tmp_path):
    c.check_config_and_saving(name, tmp_path)


def test_the_weak_is_target_check_catches_an_algorithm_that_trains_the_weak_view(
        monkeypatch):
    from fewlabels.algorithms import get

    monkeypatch.setattr(get("pseudo-label"), "weak_is_target", True)  # a false claim
    with pytest.raises(AssertionError, match="takes a gradient through the weak view"):
        c.check_weak_is_target_is_honest("pseudo-label")


def test_the_gradient_check_catches_a_consistency_term_that_carries_no_gradient(monkeypatch):
    import keras

    from fewlabels.algorithms import get

    fixmatch = get("fixmatch")
    honest = fixmatch.unsupervised

    def detached(self, weak, strong, batch, student):  # the bug: strong predictions detached
        return honest(self, weak, keras.ops.stop_gradient(strong), batch, student)

    monkeypatch.setattr(fixmatch, "unsupervised", detached)
    with pytest.raises(AssertionError, match="carries no gradient with its mask on"):
        c.check_gradient_follows_the_mask("fixmatch")


def test_the_suite_names_a_backend_it_cannot_take_gradients_on(monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(NotImplementedError, match="need the tensorflow or jax backend; Keras "
                                                  "runs on 'torch'"):
        c.gradient(lambda values: (values[0], None), [1.0])


def test_mixmatch_and_the_ema_refuse_bad_settings_by_name():
    from fewlabels.algorithms import create
    from fewlabels.errors import FewLabelsError
    from fewlabels.testing.conformance import student

    with pytest.raises(FewLabelsError, match="temperature must be in"):
        create("mixmatch", temperature=0.0)
    with pytest.raises(FewLabelsError, match=r"alpha must be in \(0, 2\]; got -1"):
        create("mixmatch", alpha=-1)
    with pytest.raises(FewLabelsError, match=r"alpha must be in \(0, 2\]; got 5"):
        create("mixmatch", alpha=5)
    from fewlabels.ssl_model import SemiSupervisedModel

    with pytest.raises(FewLabelsError, match=r"ema_momentum must be in \[0, 1\); got 1.0"):
        SemiSupervisedModel(student(), create("fixmatch"), 4, ema_momentum=1.0)


@pytest.mark.parametrize("alpha", [0.75, 2.0])
def test_mixups_beta_draw_has_the_beta_distributions_mean_and_variance(alpha):
    import keras
    import numpy as np
    import tensorflow as tf

    from fewlabels.algorithms.mixmatch import symmetric_beta

    generator = keras.random.SeedGenerator(0)
    draw = tf.function(lambda: symmetric_beta(alpha, generator))
    draws = np.array([float(draw()) for _ in range(4000)])
    assert draws.min() >= 0 and draws.max() <= 1
    assert abs(draws.mean() - 0.5) < 0.025  # 5 standard errors
    assert abs(draws.var() - 1 / (4 * (2 * alpha + 1))) < 0.01  # Beta(a, a)'s variance
