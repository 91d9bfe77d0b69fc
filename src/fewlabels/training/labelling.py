"""A trained network as a labeller: BatchNorm statistics fitted to its weights, and
test-time augmentation.

A network evaluated with an average of its weights (the EMA of consistency training) keeps
the BatchNorm moving statistics of the network it averages, which drift with every step;
`reestimate_batchnorm` recomputes them for the weights as they are, on clean images, as the
average of per-batch statistics ("precise BN", Wu & Johnson 2021). `predict_views` averages
the probabilities of an image and its mirror image, where the data allows mirroring.

Example:
```python
reestimate_batchnorm(model, x_clean)
proba = predict_views(model, x_pool, flip=True)
```
"""

from __future__ import annotations

import keras
import numpy as np

BN_IMAGES = 10_000
"""Images `reestimate_batchnorm` passes by default: enough for statistics stable to about 1%
of a standard deviation, a few seconds for the compact CNN on 2 CPU cores."""
BN_BATCH = 256


def batchnorm_layers(model: keras.Model) -> list:
    """The BatchNormalization layers of `model` (nested models included) that training
    updates: frozen ones (a transfer backbone's) keep their statistics."""
    return [layer for layer in model._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def reestimate_batchnorm(model: keras.Model, x: np.ndarray, *, max_images: int = BN_IMAGES,
                         batch_size: int = BN_BATCH, seed: int = 0) -> int:
    """Recompute the BatchNorm moving statistics of `model` on `x`, as it is now.

    Each layer's moving mean and variance become the average of its batch statistics over
    up to `max_images` images of `x` (a seeded sample, in batches of `batch_size`): the
    momentum of batch k is `k / (k + 1)`, so the first batch replaces the old statistics and
    each later one counts as much as the others. Nothing else changes: the model runs in
    training mode only for the BatchNorm layers' sake, and their momentum is restored.

    Args:
        model: the network (changed in place).
        x: clean inputs, as the model takes them (no augmentation).
        max_images: the most images to pass.
        batch_size: images per batch.
        seed: seeds the sample.

    Returns:
        The number of layers re-estimated (0: the model has no trainable BatchNorm).
    """
    layers = batchnorm_layers(model)
    if not layers or len(x) == 0:
        return 0
    rows = np.random.default_rng(seed).permutation(len(x))[:max_images]
    rows.sort()  # reads a large array in order
    saved = [layer.momentum for layer in layers]
    try:
        for k, start in enumerate(range(0, len(rows), batch_size)):
            for layer in layers:
                layer.momentum = k / (k + 1)
            batch = np.asarray(x[rows[start:start + batch_size]], dtype="float32")
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
    return len(layers)


def predict_views(model: keras.Model, x: np.ndarray, *, flip: bool = False) -> np.ndarray:
    """Class probabilities for `x`, averaged with the mirror images' when `flip`.

    Args:
        model: the network.
        x: rows, or images `(n, height, width, channels)`.
        flip: also predict each image mirrored left to right, and average (images only).

    Returns:
        `(n, n_classes)` float64 probabilities that sum to 1.
    """
    from fewlabels.training.stage import predict_proba

    proba = predict_proba(model, x)
    if flip and np.ndim(x) == 4:
        proba = (proba + predict_proba(model, x[:, :, ::-1])) / 2.0
    return proba
