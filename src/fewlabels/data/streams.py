"""`tf.data` settings every fewlabels input pipeline shares.

Example:
```python
dataset = without_autotune(tf.data.Dataset.range(10).prefetch(tf.data.AUTOTUNE))
```
"""

from __future__ import annotations


def without_autotune(dataset):
    """`dataset` with `tf.data`'s autotuning model turned off.

    The model's thread re-optimizes at growing intervals (up to a minute) and does not wake
    when its iterator is deleted: deleting the iterator waits out the interval, so every
    `fit` over a long-lived pipeline would end with a pause of up to a minute of idle CPU.
    Without it, `AUTOTUNE` parallelism is the number of cores and an `AUTOTUNE` prefetch
    buffer grows as the consumer waits (tf.data's own fallbacks).

    Args:
        dataset: a `tf.data.Dataset`.

    Returns:
        The same dataset, with `autotune.enabled = False` in its options.

    Example:
    ```python
    stream = without_autotune(dataset.map(make_batch).prefetch(tf.data.AUTOTUNE))
    ```
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
