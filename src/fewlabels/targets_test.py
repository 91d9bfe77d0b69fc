"""Tests for the shared pure target functions."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from fewlabels.targets import (
    confidence_mask,
    distribution_align,
    hard_targets,
    sharpen,
    soft_targets,
    truncated_gaussian_weight,
)

PROBS = np.array([[0.96, 0.03, 0.01], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype="float32")


def np_(x):
    return ops.convert_to_numpy(x)


def test_confidence_mask_with_a_scalar_and_per_sample_thresholds():
    np.testing.assert_array_equal(np_(confidence_mask(PROBS, 0.95)), [1, 0, 0])
    np.testing.assert_array_equal(np_(confidence_mask(PROBS, 0.0)), [1, 1, 1])
    per_sample = np.array([0.99, 0.4, 0.8], dtype="float32")
    np.testing.assert_array_equal(np_(confidence_mask(PROBS, per_sample)), [0, 1, 1])


def test_hard_targets_are_one_hot_argmax():
    np.testing.assert_array_equal(np_(hard_targets(PROBS)), [[1, 0, 0], [1, 0, 0], [0, 0, 1]])


def test_sharpen_leaves_t1_alone_and_approaches_argmax_as_t_falls():
    np.testing.assert_allclose(np_(sharpen(PROBS, 1.0)), PROBS, rtol=1e-5)
    sharp = np_(sharpen(PROBS, 0.1))
    np.testing.assert_allclose(sharp.sum(axis=1), 1.0, rtol=1e-5)
    assert sharp[1, 0] > 0.97 and sharp[2, 2] > 0.99
    # MixMatch's definition, by hand.
    expected = PROBS ** 2 / (PROBS ** 2).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np_(sharpen(PROBS, 0.5)), expected, rtol=1e-5)


def test_distribution_alignment_pulls_the_mean_prediction_to_the_target():
    skewed = np.array([[0.7, 0.2, 0.1]] * 4, dtype="float32")
    model_marginal = skewed.mean(axis=0)
    uniform = np.full(3, 1 / 3, dtype="float32")
    aligned = np_(distribution_align(skewed, model_marginal, uniform))
    np.testing.assert_allclose(aligned.mean(axis=0), uniform, atol=1e-4)
    np.testing.assert_allclose(aligned.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np_(distribution_align(skewed, model_marginal)), aligned,
                               rtol=1e-6)  # the default target is uniform


def test_truncated_gaussian_weight_is_flat_above_the_mean_and_gaussian_below():
    w = np_(truncated_gaussian_weight(PROBS, mean=0.7, variance=0.01))
    assert w[0] == 1.0 and w[2] == 1.0  # confidences 0.96 and 0.8 are above the mean
    np.testing.assert_allclose(w[1], np.exp(-(0.5 - 0.7) ** 2 / 0.02), rtol=1e-5)


@pytest.mark.parametrize(
    "make_target",
    [hard_targets, lambda p: soft_targets(p, 0.5), lambda p: confidence_mask(p, 0.5),
     lambda p: truncated_gaussian_weight(p, 0.7, 0.01)],
)
def test_targets_and_weights_carry_no_gradient_to_the_predictions(make_target):
    logits = tf.Variable(np.log(PROBS))
    with tf.GradientTape() as tape:
        target = make_target(tf.nn.softmax(logits))
        # A non-uniform weighting: a plain sum of probabilities is constant (1 per row) and
        # would have no gradient even without stop_gradient.
        weights = tf.reshape(tf.range(1.0, tf.cast(tf.size(target), tf.float32) + 1.0),
                             tf.shape(target))
        out = tf.reduce_sum(target * weights)
    grad = tape.gradient(out, logits)
    assert grad is None or np.allclose(grad.numpy(), 0.0)


def test_sharpen_itself_does_carry_gradient():
    # sharpen is a plain function (MixMatch sharpens targets, then stops the gradient):
    # only soft_targets stops it.
    logits = tf.Variable(np.log(PROBS))
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(sharpen(tf.nn.softmax(logits), 0.5)[:, 0])
    assert np.abs(tape.gradient(out, logits).numpy()).sum() > 0
