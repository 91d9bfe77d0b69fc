"""Training on several devices and machines, with the engine that works with Keras 3 there.

Every fewlabels fit builds its networks inside `fit`, so running the whole fit inside a
strategy's scope distributes every path: consistency training, each stage of self-training
and of teacher-student, and the supervised baseline. The global batch is the batch the user
set, split across the replicas; the algorithms' state (FlexMatch's per-image memory, the
EMA, running statistics) is one copy, updated from the whole global batch.

The engines, by Keras backend (TensorFlow 2.21, Keras 3.15, JAX 0.10, checked on this machine):

- TensorFlow, `mirrored`: `tf.distribute.MirroredStrategy` over the host's GPUs (or its
  logical CPU devices). It runs `fit` one step per compiled call only: with
  `steps_per_execution > 1` its multi-step loop fails ("You must feed a value for
  placeholder tensor", keras-team/keras#19246); `steps_per_call` falls back. Its
  `predict_on_batch` returns a row per row and replica, so validation calls the model
  directly there (`replicated`).
- TensorFlow, `multi-worker`: `MultiWorkerMirroredStrategy` forms a cluster but Keras 3's
  `fit` fails on its distributed dataset (`PerReplica` to a Tensor; keras-team/keras#20585),
  so it is refused, pointing to JAX.
- JAX, `mirrored`: `keras.distribution.DataParallel` over the local devices (GPUs, or the
  host devices `XLA_FLAGS=--xla_force_host_platform_device_count=N` declares).
- JAX, `multi-worker`: JAX's multi-process runtime (`jax.distributed.initialize`; on CPUs its
  Gloo collectives) and `DataParallel` over every process's devices. The cluster is the one
  `TF_CONFIG` describes, as for TensorFlow: the first worker (or the `chief`) is the
  coordinator. Every process builds the same global batch from the same seeded stream and
  feeds its own slice of it (`process_slices`), so the trajectory is the one device's.
  Only the chief writes the run directory and the checkpoints (`is_chief`); every process
  resumes from the chief's.

Example:
```python
from fewlabels.training.distribute import distributed

with distributed("mirrored"):
    model = ConsistencyTraining(method="fixmatch").fit(x, y)
```
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator

from fewlabels.errors import InputError

STRATEGIES = ("auto", "none", "mirrored", "multi-worker")
"""The values of `fit --strategy`."""

HEARTBEAT_ENV = "FEWLABELS_HEARTBEAT_SECONDS"
"""Seconds without a worker's heartbeat before JAX's coordinator gives up on the cluster
(JAX's default, 100, when unset): how soon the others stop after a worker is killed."""


def build_strategy(name: str):
    """The engine `name` stands for on the running Keras backend.

    Args:
        name: `"auto"` (mirrored when the host has several GPUs, else one device),
            `"none"` (one device), `"mirrored"` (every local GPU, or every local CPU
            device when there is no GPU), or `"multi-worker"` (the processes `TF_CONFIG`
            describes; JAX backend only: see the module).

    Returns:
        A `tf.distribute.Strategy` (TensorFlow), a `keras.distribution.Distribution` (JAX),
        or None for one device.
    """
    import keras

    if name not in STRATEGIES:
        raise InputError(f"strategy must be one of {list(STRATEGIES)}; got {name!r}.")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_strategy(name)
    if backend == "jax":
        return _jax_distribution(name)
    if name in ("mirrored", "multi-worker"):
        raise InputError(f"strategy={name!r} runs on the TensorFlow or JAX backend; Keras "
                         f"runs on {backend} here: use strategy='none'.")
    return None


def _tensorflow_strategy(name: str):
    """MirroredStrategy over the local devices, or None (one device)."""
    if name == "multi-worker":
        raise InputError(
            "strategy='multi-worker': TensorFlow's MultiWorkerMirroredStrategy does not run "
            "Keras 3's fit in the installed versions (keras-team/keras#20585); run with "
            "KERAS_BACKEND=jax, whose multi-process runtime does, or use 'mirrored' for the "
            "devices of one host.")
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "none" or (name == "auto" and len(gpus) < 2):
        return None
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def _jax_distribution(name: str):
    """DataParallel over this host's devices, or over the cluster's processes."""
    if name == "multi-worker":
        workers, index = cluster_from_tf_config()
        join_cluster(workers, index)
    import jax

    devices = jax.devices() if name == "multi-worker" else jax.local_devices()
    gpus = [d for d in devices if d.platform != "cpu"]
    if name == "none" or (name == "auto" and len(gpus) < 2):
        return None
    return process_slices(devices)


def cluster_from_tf_config(text: str | None = None) -> tuple[list[str], int]:
    """The workers' addresses and this process's place among them, from `TF_CONFIG`.

    `TF_CONFIG` is TensorFlow's JSON description of a cluster: `{"cluster": {"worker":
    ["host:port", ...]}, "task": {"type": "worker", "index": i}}`, with an optional
    `"chief": ["host:port"]` job that comes first.

    Args:
        text: the JSON (default: the `TF_CONFIG` environment variable).

    Returns:
        `(addresses, index)`: the chief (or worker 0) first; `index` is this process's.
    """
    text = os.environ.get("TF_CONFIG") if text is None else text
    if not text:
        raise InputError("strategy='multi-worker' needs TF_CONFIG, the cluster's description "
                         '(e.g. {"cluster": {"worker": ["10.0.0.1:7000", "10.0.0.2:7000"]}, '
                         '"task": {"type": "worker", "index": 0}}): see '
                         "docs/distributed.md.")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        chief, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(f"TF_CONFIG is not a cluster description ({error!s}): it needs "
                         '"cluster" with a "worker" list and "task" with "type" and '
                         '"index".') from None
    addresses = chief + workers
    if kind not in ("chief", "worker") or not addresses:
        raise InputError(f"TF_CONFIG: task type must be 'chief' or 'worker' of a cluster "
                         f"with workers; got type {kind!r} and {len(addresses)} addresses.")
    jobs = chief if kind == "chief" else workers
    if not 0 <= index < len(jobs):
        raise InputError(f"TF_CONFIG: task index {index} is outside the {len(jobs)} "
                         f"{kind} addresses.")
    return addresses, index + (len(chief) if kind == "worker" else 0)


_JOINED: list = []  # the cluster this process joined: JAX's runtime starts once per process


def join_cluster(addresses: list[str], index: int) -> None:
    """Start JAX's multi-process runtime as process `index` of `addresses` (once).

    Process 0 serves as the coordinator at its address; the others connect to it. On CPUs
    the collectives are Gloo's. It must run before any JAX computation in the process.
    """
    if _JOINED:
        if _JOINED[0] != (addresses, index):
            raise InputError(f"this process already joined the cluster {_JOINED[0]}; one "
                             "cluster per process.")
        return
    heartbeat = os.environ.get(HEARTBEAT_ENV, "100")
    if not heartbeat.isdigit() or int(heartbeat) < 1:
        raise InputError(f"{HEARTBEAT_ENV} must be a whole number of seconds >= 1; got "
                         f"{heartbeat!r}.")
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    heartbeat = int(heartbeat)
    try:
        jax.distributed.initialize(coordinator_address=addresses[0],
                                   num_processes=len(addresses), process_id=index,
                                   heartbeat_timeout_seconds=heartbeat)
    except RuntimeError as error:
        raise InputError(f"could not join the cluster of {len(addresses)} processes as "
                         f"process {index} (coordinator {addresses[0]}): {error}") from None
    _JOINED.append((addresses, index))


@functools.cache
def _process_slices_class():
    """`ProcessSlices`, made on first use: it subclasses a Keras class, and importing this
    module must not import Keras."""
    import keras

    class ProcessSlices(keras.distribution.DataParallel):
        """Keras's DataParallel whose input pipeline hands each process its slice of every
        global batch: every part of a batch (the labeled and the unlabeled images, of
        different sizes) is cut into as many equal slices as there are processes.
        """

        def distribute_dataset(self, dataset):
            import tensorflow as tf

            parts = tf.nest.flatten(dataset.element_spec)
            for spec in parts:
                size = spec.shape[0] if spec.shape.rank else None
                if size is not None and size % self.device_mesh.devices.size:
                    raise InputError(
                        f"a batch of {size} rows does not split evenly across "
                        f"{self.device_mesh.devices.size} devices: make the batch size (and "
                        "uratio times it) a multiple of the device count.")
            if not self._is_multi_process:
                return dataset
            n, index = self._num_processes, self._process_id

            def own(t):
                size = tf.shape(t)[0] // n
                return t[index * size:(index + 1) * size]

            return dataset.map(lambda *batch: tf.nest.map_structure(
                own, batch if len(batch) > 1 else batch[0]))

    return ProcessSlices


def process_slices(devices: list):
    """Keras's `DataParallel` over `devices`, each process fed its slice of every global
    batch (`ProcessSlices`)."""
    return _process_slices_class()(devices=devices)


@contextlib.contextmanager
def distributed(strategy) -> Iterator[object]:
    """Run what the block fits on `strategy`: a name of `STRATEGIES`, what `build_strategy`
    returns (a `tf.distribute.Strategy` or a `keras.distribution.Distribution`), or None
    (one device).

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


def is_chief() -> bool:
    """Whether this process writes the run: always, but in a multi-worker run, where only
    process 0 (the chief) does."""
    if not _JOINED:
        return True
    import jax

    return jax.process_index() == 0


def compiled_step(asked: bool) -> bool:
    """Whether to compile the training step: as `asked`, but always in a multi-worker run,
    where an eager step cannot compute on arrays that span processes."""
    return asked or bool(_JOINED)


def batch_predictor(model):
    """How to run `model` on one batch with the devices in scope: each replica (each device,
    on every worker) computes its slice of the batch, and every process gets the whole
    output back, rows in order.

    One device: a plain call. A TensorFlow strategy of several replicas: `strategy.run` on
    each replica's slice, then `strategy.gather`. A JAX distribution over several devices
    (`mirrored`, or `multi-worker` across processes): a global array from each process's
    slice (`jax.make_array_from_process_local_data`), the model's call, then the output
    gathered from every process (`process_allgather`). A batch that does not split evenly is
    padded with its last row, and the padding dropped.

    Args:
        model: a Keras model built in the strategy's scope.

    Returns:
        A function from a NumPy batch to the model's NumPy output for it.

    Example:
    ```python
    with distributed("mirrored"):
        predict = batch_predictor(model)
        proba = np.concatenate([predict(x[i:i + 256]) for i in range(0, len(x), 256)])
    ```
    """
    import keras

    if replicated():
        return _replicas_predictor(model)
    if keras.backend.backend() == "jax":
        devices = keras.distribution.distribution()
        if devices is not None and devices.device_mesh.devices.size > 1:
            return _devices_predictor(model, devices)
    return lambda x: keras.ops.convert_to_numpy(model(x, training=False))


def _padded(x, parts: int):
    """`x` with its last row repeated until its length is a multiple of `parts`."""
    import numpy as np

    short = -len(x) % parts
    return np.concatenate([x, np.repeat(x[-1:], short, axis=0)]) if short else x


def _replicas_predictor(model):
    """`batch_predictor` under a TensorFlow strategy of several replicas."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync

    @tf.function(reduce_retracing=True)
    def run(values):
        out = strategy.run(lambda x: model(x, training=False), args=(values,))
        return strategy.gather(out, axis=0)

    def predict(x):
        padded = _padded(x, replicas)
        share = len(padded) // replicas
        values = strategy.experimental_distribute_values_from_function(
            lambda context: padded[context.replica_id_in_sync_group * share:][:share])
        return run(values).numpy()[:len(x)]

    return predict


def _devices_predictor(model, devices):
    """`batch_predictor` under a JAX distribution over several devices (and processes)."""
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    def predict(x):
        padded = _padded(x, devices.device_mesh.devices.size)
        layout = devices.get_data_layout(padded.shape).backend_layout
        rows = [index[0] for index in
                layout.addressable_devices_indices_map(padded.shape).values()]
        here = padded[min(r.start for r in rows):max(r.stop for r in rows)]
        out = model(jax.make_array_from_process_local_data(layout, here, padded.shape),
                    training=False)
        if jax.process_count() > 1:
            out = multihost_utils.process_allgather(out, tiled=True)
        return np.asarray(out)[:len(x)]

    return predict


def replicated() -> bool:
    """Whether a TensorFlow strategy of several replicas is in scope."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1


def steps_per_call(steps: int) -> int:
    """`steps` optimizer steps per compiled call, or one under a TensorFlow strategy of
    several replicas (its multi-step loop fails in the installed Keras: see the module)."""
    return 1 if replicated() else steps
