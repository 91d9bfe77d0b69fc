"""The training stream of consistency training: labeled batches zipped with unlabeled ones.

`ssl_stream(x, y, ...)` splits one pool by its labels (-1 = unlabeled), so the labeled and the
unlabeled sets can never overlap, and yields `(inputs, labels)`:

- `inputs["labeled"]`: `batch_size` labeled images, weak-augmented;
- `inputs["weak"]`, `inputs["strong"]`: `uratio * batch_size` unlabeled images, each with one
  weak and one strong view (the same images in the same order);
- `inputs["index"]`: each unlabeled image's position in the unlabeled pool;
- `inputs["hidden"]`: its hidden true label (`y_hidden`), or -1;
- `labels`: the labeled images' class indices.

Both sides are shuffled with the seed, re-shuffled every pass, and repeat forever (train with
`steps_per_epoch`). Augmentation runs inside `tf.data` with Keras's seeded layers, so views
differ from step to step and epoch to epoch, but not between two runs with the same seed.
Rows (tabular data) get tabular views: see `fewlabels.augment.build_tabular_view`.
"""

from __future__ import annotations

import numpy as np

from fewlabels.errors import FewLabelsError


def ssl_stream(
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int = 32,
    uratio: int = 7,
    weak=None,
    strong=None,
    y_hidden: np.ndarray | None = None,
    seed: int = 0,
):
    """A repeating `tf.data.Dataset` of `(inputs, labels)` for `SemiSupervisedModel.fit`.

    Args:
        x: every image (or row), labeled and unlabeled.
        y: class indices, -1 for unlabeled.
        batch_size: labeled images per batch (B).
        uratio: unlabeled images per labeled image (mu; the batch has `uratio * B`).
        weak: the weak-view policy (a Keras layer), or None for the identity.
        strong: the strong-view policy, or None for the identity.
        y_hidden: true labels of the unlabeled rows, for monitoring only (-1 = unknown).
        seed: seeds both shuffles.

    Returns:
        The dataset, and the number of unlabeled images (the pool size for algorithm state).

    Example:
    ```python
    stream, n_unlabeled = ssl_stream(x, y, batch_size=32, uratio=7,
                                     weak=build_policy("weak", seed=0),
                                     strong=build_policy("strong", seed=1))
    ```
    """
    import tensorflow as tf

    y = np.asarray(y, dtype=np.int64)
    if len(x) != len(y):
        raise FewLabelsError(f"x has {len(x)} rows but y has {len(y)} labels.")
    labeled = np.flatnonzero(y >= 0)
    unlabeled = np.flatnonzero(y < 0)
    if len(labeled) == 0:
        raise FewLabelsError("no labeled rows: consistency training needs some labels.")
    if len(unlabeled) == 0:
        raise FewLabelsError("no unlabeled rows: use supervised training instead.")
    if batch_size < 1 or uratio < 1:
        raise FewLabelsError(f"batch_size and uratio must be >= 1; got {batch_size}, {uratio}.")
    hidden = (np.full(len(unlabeled), -1, np.int64) if y_hidden is None
              else np.asarray(y_hidden, np.int64)[unlabeled])
    x = np.asarray(x)
    dtype = tf.float32

    def weak_view(images):
        return weak(images, training=True) if weak is not None else images

    def strong_view(images):
        return strong(images, training=True) if strong is not None else images

    lab = (tf.data.Dataset.from_tensor_slices((x[labeled], y[labeled]))
           .shuffle(len(labeled), seed=seed, reshuffle_each_iteration=True)
           .repeat()
           .batch(batch_size, drop_remainder=True)
           .map(lambda xb, yb: (weak_view(tf.cast(xb, dtype)), yb)))
    unl = (tf.data.Dataset.from_tensor_slices(
               (x[unlabeled], np.arange(len(unlabeled), dtype=np.int64), hidden))
           .shuffle(len(unlabeled), seed=seed + 1, reshuffle_each_iteration=True)
           .repeat()
           .batch(batch_size * uratio, drop_remainder=True)
           .map(lambda xb, ib, hb: (tf.cast(xb, dtype), ib, hb)))

    def join(labeled_batch, unlabeled_batch):
        (xl, yl), (xu, index, hid) = labeled_batch, unlabeled_batch
        return ({"labeled": xl, "weak": weak_view(xu), "strong": strong_view(xu),
                 "index": index, "hidden": hid}, yl)

    stream = tf.data.Dataset.zip((lab, unl)).map(join).prefetch(tf.data.AUTOTUNE)
    return stream, len(unlabeled)
