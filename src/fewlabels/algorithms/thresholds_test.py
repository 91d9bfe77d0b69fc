"""Tests for the algorithm-specific pure functions: FlexMatch's and FreeMatch's thresholds."""

import keras
import numpy as np

from fewlabels.algorithms.flexmatch import flexmatch_thresholds
from fewlabels.algorithms.freematch import fairness_loss, freematch_thresholds


def np_(x):
    return keras.ops.convert_to_numpy(x)


def test_flexmatch_thresholds_start_at_zero_and_reach_the_threshold_for_the_best_class():
    # Nothing learned yet: every threshold is 0 (the warm-up normalizes by the unused count).
    np.testing.assert_allclose(np_(flexmatch_thresholds(np.array([100, 0, 0]), 0.95, True)),
                               [0.0, 0.0])
    # Class 0 learned by 60 images, class 1 by 30, 10 unused: beta = (1, 0.5).
    got = np_(flexmatch_thresholds(np.array([10, 60, 30]), 0.95, True))
    np.testing.assert_allclose(got, [0.95, 0.95 * 0.5 / 1.5], rtol=1e-6)
    # With warm-up, a large unused count keeps thresholds low; without, it is ignored.
    warm = np_(flexmatch_thresholds(np.array([120, 60, 30]), 0.95, True))
    cold = np_(flexmatch_thresholds(np.array([120, 60, 30]), 0.95, False))
    assert warm[0] < cold[0] == np.float32(0.95)


def test_freematch_thresholds_scale_the_global_one_by_the_class_distribution():
    got = np_(freematch_thresholds(0.8, np.array([0.5, 0.25, 0.25])))
    np.testing.assert_allclose(got, [0.8, 0.4, 0.4], rtol=1e-6)


def test_fairness_loss_is_zero_with_an_empty_mask_and_matches_its_formula():
    uniform = np.full(3, 1 / 3, "float32")
    probs = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]], "float32")
    assert float(np_(fairness_loss(probs, np.zeros(3, "float32"), uniform, uniform))) == 0.0
    p_model = np.array([0.5, 0.3, 0.2], "float32")
    label_hist = np.array([0.4, 0.4, 0.2], "float32")
    mask = np.array([1.0, 1.0, 0.0], "float32")  # only the first two count
    # Reference: SumNorm(p_model / label_hist) . log SumNorm(mean_p / hist), over masked rows.
    target = p_model / label_hist
    target /= target.sum()
    hist = np.array([1.0, 0.0, 0.0])  # both masked rows predict class 0
    mean_p = probs[:2].mean(axis=0)
    scaled = np.where(hist > 0, mean_p / np.maximum(hist, 1e-12), 0.0)
    scaled /= scaled.sum()
    expected = float(np.sum(target * np.log(scaled + 1e-12)))
    got = float(np_(fairness_loss(probs, mask, p_model, label_hist)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_bad_algorithm_hyperparameters_are_named():
    import pytest

    from fewlabels.algorithms import create
    from fewlabels.errors import FewLabelsError

    with pytest.raises(FewLabelsError, match=r"threshold must be in \[0, 1\]; got 1.5"):
        create("fixmatch", threshold=1.5)
    with pytest.raises(FewLabelsError, match=r"threshold must be in \[0, 1\]; got -0.1"):
        create("pseudo-label", threshold=-0.1)
    with pytest.raises(FewLabelsError, match="lambda_u must be >= 0; got -1"):
        create("softmatch", lambda_u=-1)
    with pytest.raises(FewLabelsError, match=r"warmup_steps must be an integer >= 0; got 2\.5"):
        create("meanteacher", warmup_steps=2.5)
    with pytest.raises(FewLabelsError, match=r"ramp_fraction must be in \[0, 1\]; got 1\.5"):
        create("softmatch", ramp_fraction=1.5)

