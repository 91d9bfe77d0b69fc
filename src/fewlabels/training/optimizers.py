"""The optimizer and learning-rate schedule of consistency training.

Example:
```python
optimizer = build_optimizer("sgd", 0.03, steps=5000, weight_decay=5e-4, warmup_fraction=0.05)
```
"""

from __future__ import annotations

import keras

NO_DECAY = ("gamma", "beta", "bias")
"""Names (substrings) of the weights `decay_all=False` spares: BatchNorm's scales and shifts,
and biases."""


def build_optimizer(name: str, learning_rate: float, *, steps: int, weight_decay: float = 0.0,
                    decay_all: bool = True, warmup_fraction: float = 0.0):
    """SGD with Nesterov momentum 0.9 (FixMatch's) or AdamW, on a cosine schedule.

    Args:
        name: `"sgd"` or `"adam"`.
        learning_rate: the peak learning rate.
        steps: the steps of the whole schedule.
        weight_decay: decoupled weight decay (0: none).
        decay_all: decay every weight, or spare BatchNorm and biases (`NO_DECAY`).
        warmup_fraction: the share of `steps` over which the rate rises linearly from 0; the
            cosine decays over the rest.

    Returns:
        An unbuilt Keras optimizer.
    """
    schedule = build_schedule(learning_rate, steps, warmup_fraction)
    if name == "sgd":
        optimizer = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                         weight_decay=weight_decay or None)
    else:
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay)
    if weight_decay and not decay_all:
        optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
    return optimizer


def build_schedule(learning_rate: float, steps: int, warmup_fraction: float = 0.0):
    """A cosine decay from `learning_rate` to 0 over `steps`, after a linear warm-up from 0
    over `warmup_fraction` of them.

    Returns:
        A `keras.optimizers.schedules.CosineDecay`.
    """
    warmup = int(warmup_fraction * steps)
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            0.0, steps - warmup, warmup_target=learning_rate, warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(learning_rate, steps)
