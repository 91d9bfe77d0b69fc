"""Keras layers that carry fitted kernel and neighbour models inside `model.keras`.

`TableEnsemble` fits a linear model, a kernel model and a label-spreading graph with NumPy
and scikit-learn, then writes what they learned into one Keras model (`ensemble_network`),
so that its run directory holds a plain `model.keras` like every other method's: loaded with
`safe_mode=True`, predicted, evaluated and exported by the same code. The layers are written
with `keras.ops`, so the model also runs on the JAX backend (PyTorch is not tested).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def squared_distances(x, anchors):
    """Squared Euclidean distances between the rows of `x` and of `anchors`.

    Args:
        x: `(batch, n_features)`.
        anchors: `(n_anchors, n_features)`.

    Returns:
        `(batch, n_anchors)`, clipped at 0 (the expansion can round slightly below it).
    """
    d = (ops.sum(x * x, axis=1, keepdims=True) + ops.expand_dims(ops.sum(anchors * anchors,
                                                                          axis=1), 0)
         - 2.0 * ops.matmul(x, ops.transpose(anchors)))
    return ops.maximum(d, 0.0)


@keras.saving.register_keras_serializable(package="fewlabels")
class RBFFeatures(keras.layers.Layer):
    """Gaussian kernel features: `exp(-gamma * |x - a|^2)` for each stored anchor row `a`.

    Args:
        units: the number of anchors (rows the kernel model was fitted against).
        gamma: the kernel width parameter.

    Example:
    ```python
    layer = RBFFeatures(units=len(anchors), gamma=0.1)
    layer.build((None, anchors.shape[1]))
    layer.set_weights([anchors])
    ```
    """

    def __init__(self, units: int, gamma: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.gamma = float(gamma)

    def build(self, input_shape) -> None:
        self.anchors = self.add_weight(shape=(self.units, int(input_shape[-1])),
                                       initializer="zeros", trainable=False, name="anchors")

    def call(self, x):
        return ops.exp(-self.gamma * squared_distances(x, self.anchors))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="fewlabels")
class NeighbourVote(keras.layers.Layer):
    """The mean class distribution of the `k` nearest stored rows (label spreading's
    inductive rule: scikit-learn's `LabelSpreading(kernel="knn").predict_proba`).

    Args:
        units: the number of stored rows.
        n_classes: the width of the stored class distributions.
        k: the neighbours that vote.
    """

    def __init__(self, units: int, n_classes: int, k: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.n_classes = int(n_classes)
        self.k = int(k)

    def build(self, input_shape) -> None:
        self.anchors = self.add_weight(shape=(self.units, int(input_shape[-1])),
                                       initializer="zeros", trainable=False, name="anchors")
        self.distributions = self.add_weight(shape=(self.units, self.n_classes),
                                             initializer="zeros", trainable=False,
                                             name="distributions")

    def call(self, x):
        _, nearest = ops.top_k(-squared_distances(x, self.anchors), k=self.k)
        return ops.mean(ops.take(self.distributions, nearest, axis=0), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_classes)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "n_classes": self.n_classes,
                "k": self.k}


def ensemble_network(mean: np.ndarray, scale: np.ndarray, members: dict,
                     name: str = "table_ensemble") -> keras.Model:
    """The Keras model of a fitted `TableEnsemble`: standardize, each member's class
    probabilities, their mean.

    Args:
        mean, scale: the standardization, `(n_features,)` each (`scale` > 0).
        members: by name, what each member learned:
            `"linear"`: `{"kernel": (n_features, n_classes), "bias": (n_classes,)}`, softmax
            logits; `"kernel"`: the same on RBF features, plus `"anchors"` and `"gamma"`;
            `"graph"`: `{"anchors": ..., "distributions": (n, n_classes), "k": int}`, and
            `"features"`, a Keras model of the raw rows the anchors live in (default: the
            standardized rows; `hidden_features`);
            `"network"`: `{"model": keras.Model}`, a fitted model of the raw rows.
        name: the model's name.

    Returns:
        A `keras.Model` from `(batch, n_features)` to class probabilities.
    """
    n_features = len(mean)
    inputs = keras.Input(shape=(n_features,), name="features")
    h = keras.layers.Normalization(mean=mean, variance=np.square(scale),
                                   name="standardize")(inputs)
    outputs, weights = [], []
    for member, fitted in members.items():
        if member == "network":  # a fitted Keras model of the raw rows, nested as one layer
            network = keras.Model(fitted["model"].input, fitted["model"].output,
                                  name="network")
            outputs.append(network(inputs))
            continue
        if member == "graph":
            layer = NeighbourVote(len(fitted["anchors"]), fitted["distributions"].shape[1],
                                  fitted["k"], name="graph")
            # Neighbours among standardized rows, or in a feature space of the raw rows.
            space = fitted["features"](inputs) if "features" in fitted else h
            outputs.append(layer(space))
            weights.append((layer, [fitted["anchors"], fitted["distributions"]]))
            continue
        features = h
        if member == "kernel":
            rbf = RBFFeatures(len(fitted["anchors"]), fitted["gamma"], name="kernel_features")
            features = rbf(h)
            weights.append((rbf, [fitted["anchors"]]))
        dense = keras.layers.Dense(fitted["kernel"].shape[1], activation="softmax",
                                   name=member)
        outputs.append(dense(features))
        weights.append((dense, [fitted["kernel"], fitted["bias"]]))
    probabilities = (outputs[0] if len(outputs) == 1 else
                     keras.layers.Average(name="probabilities")(outputs))
    model = keras.Model(inputs, probabilities, name=name)
    for layer, values in weights:
        layer.set_weights([np.asarray(v, dtype=np.float32) for v in values])
    return model


def hidden_features(network: keras.Model, name: str = "graph_features") -> keras.Model:
    """A copy of `network` up to its last hidden Dense layer: rows to hidden features.

    The copy has its own layers (with the network's weights), so a model holding both, as
    the table ensemble's does, saves and loads each once.

    Args:
        network: a functional classifier whose output layer is Dense, after one or more
            hidden Dense layers.
        name: the copy's name.

    Returns:
        A `keras.Model` from the network's input to its last hidden layer's output.
    """
    dense = [layer for layer in network.layers if isinstance(layer, keras.layers.Dense)]
    if len(dense) < 2:
        raise ValueError(f"{network.name} has no hidden Dense layer before its output.")
    trunk = keras.Model(network.input, dense[-2].output)
    copy = keras.models.clone_model(trunk)
    copy.set_weights(trunk.get_weights())
    for layer in copy.layers:  # what loading does: an adapted Normalization reads its weights
        if hasattr(layer, "finalize_state"):
            layer.finalize_state()
    return keras.Model(copy.input, copy.output, name=name)
