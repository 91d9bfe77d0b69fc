"""Pure functions that consistency-regularization algorithms share, in `keras.ops`.

They run inside a compiled training step on every Keras backend, and each is tested on its
own (`targets_test.py`). Algorithms compose them; none keeps state. Targets always come
through `stop_gradient`: a pseudo-label is a constant to the student, never a path for
gradients (the targets are built from the weak view's predictions).

Example:
```python
probs_weak = model(weak_view)
mask = confidence_mask(probs_weak, 0.95)                  # FixMatch
targets = hard_targets(probs_weak)
```
"""

from __future__ import annotations

from keras import ops


def confidence_mask(probs, threshold):
    """1.0 where the top class probability is at least `threshold`, else 0.0.

    Args:
        probs: `(batch, n_classes)` probabilities.
        threshold: a scalar, or a `(batch,)` tensor of per-sample thresholds (FlexMatch's
            class-wise thresholds gathered by predicted class).

    Returns:
        A float `(batch,)` mask, with no gradient.
    """
    probs = ops.stop_gradient(probs)
    return ops.cast(ops.max(probs, axis=-1) >= threshold, probs.dtype)


def hard_targets(probs):
    """One-hot targets of the predicted class (`argmax`), with no gradient."""
    probs = ops.stop_gradient(probs)
    return ops.one_hot(ops.argmax(probs, axis=-1), ops.shape(probs)[-1], dtype=probs.dtype)


def sharpen(probs, temperature):
    """Sharpen a distribution: `p ** (1 / T)`, renormalized (MixMatch, Berthelot et al. 2019).

    `T -> 0` approaches the one-hot argmax; `T = 1` leaves `probs` unchanged.
    """
    powered = ops.power(probs, 1.0 / temperature)
    return powered / ops.sum(powered, axis=-1, keepdims=True)


def soft_targets(probs, temperature=1.0):
    """Sharpened probabilities as targets, with no gradient."""
    return ops.stop_gradient(sharpen(probs, temperature))


def distribution_align(probs, model_marginal, target_marginal=None, epsilon=1e-6):
    """Distribution alignment (ReMixMatch, Berthelot et al. 2020, section 3.2).

    Scale each prediction by `target_marginal / model_marginal` and renormalize, so that the
    average prediction over unlabeled data is pulled toward the labeled class distribution.

    Args:
        probs: `(batch, n_classes)` probabilities.
        model_marginal: `(n_classes,)` running mean of the model's predictions.
        target_marginal: `(n_classes,)` the class distribution to align to (default:
            uniform, as FixMatch's and SoftMatch's uniform alignment).
        epsilon: guards the division.

    Returns:
        Aligned `(batch, n_classes)` probabilities.
    """
    if target_marginal is None:
        target_marginal = 1.0 / ops.shape(probs)[-1]
    scaled = probs * (target_marginal / (model_marginal + epsilon))
    return scaled / ops.sum(scaled, axis=-1, keepdims=True)


def truncated_gaussian_weight(probs, mean, variance, lambda_max=1.0):
    """SoftMatch's sample weight (Chen et al. 2023, equation 7).

    A sample whose confidence is at least `mean` gets `lambda_max`; below it, the weight falls
    off as a Gaussian: `lambda_max * exp(-(conf - mean)^2 / (2 * variance))`.

    Args:
        probs: `(batch, n_classes)` probabilities.
        mean: the (running) mean confidence.
        variance: the (running) variance of the confidence.
        lambda_max: the largest weight.

    Returns:
        A float `(batch,)` weight, with no gradient.
    """
    confidence = ops.max(ops.stop_gradient(probs), axis=-1)
    gaussian = lambda_max * ops.exp(-ops.square(confidence - mean) / (2.0 * variance))
    return ops.where(confidence < mean, gaussian, lambda_max * ops.ones_like(confidence))
