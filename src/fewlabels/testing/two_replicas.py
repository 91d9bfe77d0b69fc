"""Consistency training on one and on two replicas of `tf.distribute.MirroredStrategy`.

Run as a script (`python -m fewlabels.testing.two_replicas`), in a process of its own: the
two logical CPU devices must be declared before TensorFlow starts. For each algorithm it
trains the same small network from the same weights on the same stream, once on one device
and once on two, and prints one JSON line: the loss per epoch, the final weights and every
state variable as each replica holds it. `replicas_test.py` reads it.
"""

from __future__ import annotations

import json
import os
import sys

CASES = {  # low thresholds, so that the state moves within a few steps
    "fixmatch": {"threshold": 0.3, "distribution_alignment": True},
    "flexmatch": {"threshold": 0.3},
    "freematch": {},
    "softmatch": {},
}


def run(strategy, method: str, params: dict, steps: int = 12) -> dict:
    """Train on `strategy` and report the losses, the weights and each replica's state."""
    import keras
    import numpy as np

    from fewlabels.algorithms import create
    from fewlabels.ssl_data import ssl_stream
    from fewlabels.ssl_model import SemiSupervisedModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = np.full(256, -1)
    y[:32] = np.arange(32) % 4
    with strategy.scope():
        keras.utils.set_random_seed(1)
        net = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                keras.layers.Dense(4, activation="softmax")])
        model = SemiSupervisedModel(net, create(method, **params), n_unlabeled=224,
                                    ema_momentum=0.9)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    stream = ssl_stream(x, y, batch_size=8, uratio=2, seed=0)[0]
    history = model.fit(stream, steps_per_epoch=steps // 2, epochs=2, verbose=0).history
    state = {v.name: [np.asarray(r).tolist() for r in strategy.experimental_local_results(v.value)]
             for v in model.non_trainable_variables}
    return {"loss": history["loss"], "weights": [w.tolist() for w in net.get_weights()],
            "state": state}


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    # One strategy for every two-replica run: a second one in the same process would reuse
    # its collective keys.
    strategies = {1: tf.distribute.get_strategy(),
                  2: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}
    out = {method: {n: run(strategy, method, CASES[method]) for n, strategy in strategies.items()}
           for method in sys.argv[1:] or list(CASES)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
