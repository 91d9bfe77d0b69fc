"""Consistency training on one device and on two, as `fit --strategy mirrored` runs it.

Run as a script (`python -m fewlabels.testing.two_replicas`), in a process of its own: the
two devices must be declared before the backend starts. On TensorFlow they are two logical
CPU devices under `tf.distribute.MirroredStrategy`; with `KERAS_BACKEND=jax`, two host
devices (`XLA_FLAGS=--xla_force_host_platform_device_count=2`) under
`keras.distribution.DataParallel`. For each algorithm it trains the same small network from
the same weights on the same stream, once on one device and once on two, and prints one JSON
line: the loss per epoch, the final weights and every state variable as each device holds
it. `replicas_test.py` reads it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

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
    from fewlabels.training.distribute import distributed

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = np.full(256, -1)
    y[:32] = np.arange(32) % 4
    with distributed(strategy):
        keras.utils.set_random_seed(1)
        net = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                keras.layers.Dense(4, activation="softmax")])
        model = SemiSupervisedModel(net, create(method, **params), n_unlabeled=224,
                                    ema_momentum=0.9)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    stream = ssl_stream(x, y, batch_size=8, uratio=2, seed=0)[0]
    history = model.fit(stream, steps_per_epoch=steps // 2, epochs=2, verbose=0).history
    state = {v.name: [np.asarray(r).tolist() for r in _copies(strategy, v)]
             for v in model.non_trainable_variables}
    return {"loss": history["loss"], "weights": [w.tolist() for w in net.get_weights()],
            "state": state}


def _copies(strategy, variable) -> list:
    """The copy of `variable` each device holds."""
    if strategy is None:
        return [variable.value]
    if hasattr(strategy, "experimental_local_results"):  # tf.distribute
        return list(strategy.experimental_local_results(variable.value))
    return [shard.data for shard in variable.value.addressable_shards]  # a JAX array


def fit_estimators(strategy) -> dict:
    """Consistency training (FixMatch, FlexMatch) and self-training fitted inside
    `strategy`'s scope, as `fewlabels.training.distribute.distributed` runs them: the losses
    per epoch and the probabilities of a few rows."""
    import numpy as np

    from fewlabels import Budget, ConsistencyTraining, Network, SelfTraining, Stopping
    from fewlabels.training.checkpoint import CheckpointPolicy
    from fewlabels.training.distribute import distributed

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    y[64:] = -1
    estimators = {
        "fixmatch": ConsistencyTraining(
            method="fixmatch", model=Network(hidden_units=(16,), dropout=0.0), batch_size=8,
            uratio=2,
            budget=Budget(20, steps_per_epoch=10), algorithm_params={"threshold": 0.5},
            jit_compile=False),
        "flexmatch": ConsistencyTraining(
            method="flexmatch", model=Network(hidden_units=(16,), dropout=0.0), batch_size=8,
            uratio=2,
            budget=Budget(20, steps_per_epoch=10), algorithm_params={"threshold": 0.5},
            jit_compile=False),
        "self-training": SelfTraining(
            model=Network(hidden_units=(16,), dropout=0.0), stopping=Stopping(4, min_steps=0),
            rounds=1,
            finetune=False, batch_size=8),
    }
    out = {}
    with distributed(strategy), tempfile.TemporaryDirectory() as folder:
        for name, estimator in estimators.items():  # checkpointed: every variable is read
            estimator.fit(x, y, checkpoint=CheckpointPolicy(Path(folder) / name))
            history = getattr(estimator, "history_", None) or estimator.stages_[0]["history"]
            out[name] = {"loss": history["loss"],
                         "proba": estimator.predict_proba(x[:8]).tolist()}
    return out


def sharded_prediction(strategy) -> dict:
    """`predict_proba` of 37 rows (one batch, an odd one) inside `strategy`'s scope: the
    probabilities, and the rows each call of the network saw on each device of this process
    (`batch_predictor` gives each its slice)."""
    import keras
    import numpy as np

    from fewlabels.training.distribute import distributed
    from fewlabels.training.stage import predict_proba

    seen = []

    class Rows(keras.layers.Layer):
        def call(self, x):
            try:  # a JAX array over devices (a tracer, while Keras builds, has no shards)
                seen.append([s.data.shape[0] for s in x.addressable_shards])
            except Exception:  # a TensorFlow tensor: one replica's
                seen.append([x.shape[0]])
            return x

    x = np.random.default_rng(0).normal(size=(37, 8)).astype("float32")
    with distributed(strategy):
        keras.utils.set_random_seed(1)
        net = keras.Sequential([keras.Input((8,)), Rows(), keras.layers.Dense(16, "relu"),
                                keras.layers.Dense(4, activation="softmax")])
        seen.clear()  # (the build's calls)
        proba = predict_proba(net, x)
    return {"proba": proba.tolist(), "rows": sorted(int(n) for call in seen for n in call
                                                 if n is not None)}


def uneven_batch(strategy) -> str | None:
    """What `ProcessSlices` (JAX) says of a batch of 3 rows for two devices (None on
    TensorFlow, whose strategy splits uneven batches itself)."""
    import numpy as np
    import tensorflow as tf

    from fewlabels.errors import InputError

    if not hasattr(strategy, "distribute_dataset"):
        return None
    try:
        strategy.distribute_dataset(tf.data.Dataset.from_tensors(np.zeros((3, 2))))
    except InputError as error:
        return str(error)
    return "accepted"


def two_devices() -> dict:
    """One device and two, on the running backend: `{1: None, 2: strategy}`."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        from fewlabels.training.distribute import build_strategy

        assert len(jax.devices()) == 2, jax.devices()
        return {1: None, 2: build_strategy("mirrored")}
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    # One strategy for every two-replica run: a second one in the same process would reuse
    # its collective keys.
    return {1: None, 2: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=2").strip()
    strategies = two_devices()
    if sys.argv[1:] == ["estimators"]:
        out = {n: fit_estimators(None if n == 1 else strategy)
               for n, strategy in strategies.items()}
        out["prediction"] = {n: sharded_prediction(None if n == 1 else strategy)
                             for n, strategy in strategies.items()}
        out["uneven"] = uneven_batch(strategies[2])
    else:
        out = {method: {n: run(strategy, method, CASES[method])
                        for n, strategy in strategies.items()}
               for method in sys.argv[1:] or list(CASES)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
