"""Data order and augmentation randomness as pure functions of the training step.

This is what makes exact resume possible (docs/reliability.md). A `tf.data` pipeline that
shuffles with a buffer and augments with stateful random layers can only be reproduced by
replaying it from its start; a checkpoint taken at step N cannot say where the stream was,
because `tf.data` prefetches ahead of training. Here nothing carries state across steps:

- `batch_indices(step, size, n, seed)`: the rows of batch `step`. The stream is an endless
  sequence of passes over the `n` rows; pass `k` visits them in the order of a seeded
  permutation (`tf.random.experimental.index_shuffle` with seed `(seed, k)`), and batch `step`
  takes positions `step * size .. step * size + size - 1` of that sequence (a batch may span
  two passes). Every row appears once per pass; the order differs from pass to pass.
- `reseed(layer, seed, key)`: sets the state of every Keras `SeedGenerator` an augmentation
  layer draws from inside `tf.data` (`fewlabels.views.base.tf_data_generators`) to
  `(seed + i, key * STRIDE)` before the layer runs, so the random transforms of a batch
  depend only on `(seed, step)`. Views differ from step to step and
  from epoch to epoch, and are the same in two runs with the same seed.

`indexed_stream(start_step, make_batch)` is the `tf.data` pipeline over steps: restarting it
at step N yields exactly the batches an uninterrupted stream yields from step N on.
"""

from __future__ import annotations

STRIDE = 4096
"""Random draws a layer may make per batch before two steps' seeds could meet."""

LAST_STEP = 2**62


def batch_indices(step, size: int, n: int, seed: int):
    """The indices (into `n` rows) of batch `step` of an endless seeded sequence of passes.

    Args:
        step: the batch number (a scalar int64 tensor).
        size: rows per batch.
        n: rows in the pool.
        seed: the seed of the order.

    Returns:
        An int64 tensor of `size` indices in `[0, n)`.
    """
    import tensorflow as tf

    positions = tf.cast(step, tf.int64) * size + tf.range(size, dtype=tf.int64)
    passes = positions // n
    seeds = tf.stack([tf.fill([size], tf.constant(seed, tf.int64)), passes,
                      tf.zeros([size], tf.int64)], axis=1)
    # The raw op: the public wrapper pads a batch of seeds along the wrong axis.
    return tf.raw_ops.RandomIndexShuffle(index=positions % n, seed=seeds,
                                         max_index=tf.constant(n - 1, tf.int64))


def reseed(layer, seed: int, key) -> None:
    """Set every random generator of `layer` to a state that depends only on `(seed, key)`.

    Call it inside the `tf.data` map function, right before the layer: operations on the same
    variable run in program order there, so the layer's draws start from this state.

    Args:
        layer: a Keras layer (an augmentation policy or a tabular view), or None.
        seed: the layer's seed.
        key: the step (a scalar int64 tensor).
    """
    import tensorflow as tf

    if layer is None:
        return
    from fewlabels.views.base import tf_data_generators

    for i, generator in enumerate(tf_data_generators(layer)):
        dtype = generator.state.dtype
        generator.state.assign(tf.cast(tf.stack([tf.constant(seed + i, tf.int64),
                                                 tf.cast(key, tf.int64) * STRIDE]), dtype))


def indexed_stream(start_step: int, make_batch, load=None):
    """A `tf.data.Dataset` of `make_batch(step)` for `step = start_step, start_step + 1, ...`.

    The map runs sequentially (reseeding relies on it); prefetching overlaps it with training.
    With `load`, each step's `load(step)` (reading files: no randomness) runs first, for
    several steps in parallel and in order, and the batch is `make_batch(step, loaded)`.
    """
    import tensorflow as tf

    from fewlabels.data.streams import without_autotune

    steps = tf.data.Dataset.range(int(start_step), LAST_STEP)
    if load is not None:
        steps = steps.map(lambda step: (step, load(step)), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    return without_autotune(steps.map(make_batch).prefetch(tf.data.AUTOTUNE))

