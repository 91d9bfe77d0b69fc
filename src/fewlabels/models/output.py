"""The output layer every fewlabels network ends with."""

from __future__ import annotations


def class_probabilities(h, n_classes: int):
    """Softmax class probabilities from the features `h`, in float32.

    Under a mixed-precision policy (`keras.mixed_precision.set_global_policy(
    "mixed_bfloat16")`) the layers before it compute in 16 bits; the probabilities stay in
    float32, since the losses, confidence masks, thresholds and sharpening read them.

    Args:
        h: the features, a Keras tensor.
        n_classes: the number of classes.

    Returns:
        The Keras tensor of probabilities, `(batch, n_classes)`.

    Example:
    ```python
    outputs = class_probabilities(keras.layers.GlobalAveragePooling2D()(h), 10)
    ```
    """
    import keras

    return keras.layers.Dense(n_classes, activation="softmax", name="probabilities",
                              dtype="float32")(h)
