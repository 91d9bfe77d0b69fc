"""Training on several devices of one host, with the engine that works with Keras 3 there.

Every fewlabels fit builds its networks inside `fit`, so running the whole fit inside a
`tf.distribute` strategy's scope distributes every path: consistency training, each stage
of self-training and of teacher-student, and the supervised baseline. Keras splits each
global batch (the batch the user set) across the replicas; the algorithms' state is
replica-aware (`fewlabels.replicas`).

What the installed versions support (TensorFlow 2.21, Keras 3.15, checked on this machine):
- `MirroredStrategy` (several devices of one host) runs `fit`, but only one step per
  compiled call: with `steps_per_execution > 1` its multi-step loop fails ("You must feed a
  value for placeholder tensor", keras-team/keras#19246). `steps_per_call` falls back.
- `MultiWorkerMirroredStrategy` forms a cluster but `fit` fails on a distributed dataset
  (`PerReplica` to a Tensor; keras-team/keras#20585), so it is refused here by name.
- Under `MirroredStrategy`, `predict_on_batch` returns a row per row and replica (13 rows
  give 26 on two replicas), so validation calls the model directly there (`replicated`).

Example:
```python
from fewlabels.training.distribute import distributed

with distributed("mirrored"):
    model = ConsistencyTraining(method="fixmatch").fit(x, y)
```
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from fewlabels.errors import InputError

STRATEGIES = ("auto", "none", "mirrored", "multi-worker")
"""The values of `fit --strategy`."""


def build_strategy(name: str):
    """The `tf.distribute` strategy `name` stands for.

    Args:
        name: `"auto"` (mirrored when the host has several GPUs, else one device),
            `"none"` (one device), `"mirrored"` (every local GPU, or every logical CPU
            device when there is no GPU; TensorFlow backend only), or `"multi-worker"`
            (refused: see the module).

    Returns:
        A strategy, or None for one device.
    """
    import keras

    if name not in STRATEGIES:
        raise InputError(f"strategy must be one of {list(STRATEGIES)}; got {name!r}.")
    backend = keras.backend.backend()
    if backend != "tensorflow":
        if name == "mirrored":
            raise InputError(f"strategy='mirrored' is TensorFlow's MirroredStrategy; Keras "
                             f"runs on {backend} here: use strategy='none'.")
        name = "none" if name == "auto" else name
    if name == "multi-worker":
        raise InputError(
            "strategy='multi-worker': TensorFlow's MultiWorkerMirroredStrategy does not run "
            "Keras 3's fit in the installed versions (keras-team/keras#20585); use "
            "'mirrored' for the devices of one host.")
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "none" or (name == "auto" and len(gpus) < 2):
        return None
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


@contextlib.contextmanager
def distributed(strategy) -> Iterator[object]:
    """Run what the block fits on `strategy`: a name of `STRATEGIES`, a
    `tf.distribute.Strategy`, or None (one device).

    Yields:
        The strategy (None for one device).
    """
    if isinstance(strategy, str):
        strategy = build_strategy(strategy)
    if strategy is None:
        yield None
        return
    with strategy.scope():
        yield strategy


def replicated() -> bool:
    """Whether a strategy of several replicas is in scope."""
    import tensorflow as tf

    return tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1


def steps_per_call(steps: int) -> int:
    """`steps` optimizer steps per compiled call, or one under a strategy of several
    replicas (its multi-step loop fails in the installed Keras: see the module)."""
    return 1 if replicated() else steps
