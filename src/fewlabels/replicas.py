"""Batch statistics that agree across the replicas of a distributed step.

Under `tf.distribute.MirroredStrategy` each replica runs the training step on its share of
the global batch. An algorithm's state (a running mean, FlexMatch's per-image memory) that
each replica updated from its own share would drift apart, replica by replica, and a
checkpoint would keep one replica's copy. So the statistics that update state are taken over
the whole global batch: `gathered` concatenates every replica's rows, in replica order, and
each replica then computes the same update (the state variables keep the first replica's,
`aggregation="only_first_replica"`, so they stay identical even to the last bit).

On JAX, `keras.distribution.DataParallel` compiles one program over the global batch, so a
batch is already global and these are identities; so they are with one device.
"""

from __future__ import annotations

import keras


def _replica_context():
    """TensorFlow's replica context inside a step with more than one replica, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return None
    context = tf.distribute.get_replica_context()
    return context if context.num_replicas_in_sync > 1 else None


def gathered(x):
    """`x` from every replica of the step, concatenated along the first axis.

    Args:
        x: a tensor whose first axis runs over this replica's share of the batch.

    Returns:
        The global batch's values (x itself outside a multi-replica step).

    Example:
    ```python
    ema_assign(self.p_model, ops.mean(gathered(probs), axis=0), 0.999)
    ```
    """
    context = _replica_context()
    return x if context is None else context.all_gather(x, axis=0)


def replica_share(loss):
    """A hand-written scalar loss scaled for the sum of the replicas' gradients.

    `keras.losses` objects divide by the replica count themselves; a loss computed with
    `keras.ops` (a sum, a KL term) must be divided here, or `tf.distribute` counts it once
    per replica.

    Args:
        loss: a scalar tensor.

    Returns:
        `loss / replicas` (loss itself outside a multi-replica step).
    """
    context = _replica_context()
    return loss if context is None else loss / context.num_replicas_in_sync
