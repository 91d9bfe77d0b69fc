"""The multilayer perceptron for tabular data, with standardization built into the model."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from fewlabels.errors import InputError
from fewlabels.models.output import class_probabilities


def build_mlp(
    n_features: int,
    n_classes: int,
    *,
    hidden_units: Sequence[int] = (64, 64),
    activation: str = "relu",
    dropout: float = 0.0,
    adapt_data: np.ndarray | None = None,
    name: str = "mlp",
) -> keras.Model:
    """Build an MLP classifier whose first layer standardizes its inputs.

    The `Normalization` layer is adapted on `adapt_data` (for self-training: every training
    row, labeled and unlabeled), so the saved model needs no separate preprocessing.

    Args:
        n_features: input width.
        n_classes: output width (softmax).
        hidden_units: widths of the hidden Dense layers.
        activation: a Keras activation name for the hidden layers.
        dropout: dropout rate after each hidden layer (0 turns it off).
        adapt_data: rows to compute the feature means and variances from.
        name: the model's name.

    Returns:
        An uncompiled `keras.Model` mapping `(batch, n_features)` to class probabilities.

    Example:
    ```python
    model = build_mlp(64, 10, hidden_units=(64, 64), adapt_data=x)
    ```
    """
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError) as err:
        raise InputError(
            f"activation {activation!r} is not a Keras activation (try 'relu', 'gelu', 'tanh')."
        ) from err
    inputs = keras.Input(shape=(n_features,), name="features")
    normalize = keras.layers.Normalization(name="standardize")
    if adapt_data is not None:
        normalize.adapt(np.asarray(adapt_data, dtype=np.float32))
    h = normalize(inputs)
    for i, units in enumerate(hidden_units):
        h = keras.layers.Dense(units, activation=activation, name=f"dense_{i + 1}")(h)
        if dropout > 0:
            h = keras.layers.Dropout(dropout, name=f"dropout_{i + 1}")(h)
    outputs = class_probabilities(h, n_classes)
    return keras.Model(inputs, outputs, name=name)
