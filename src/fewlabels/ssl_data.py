"""The training stream of consistency training: labeled batches zipped with unlabeled ones.

`ssl_stream(x, y, ...)` splits one pool by its labels (-1 = unlabeled), so the labeled and the
unlabeled sets can never overlap, and yields `(inputs, labels)`:

- `inputs["labeled"]`: `batch_size` labeled images, weak-augmented;
- `inputs["weak"]`, `inputs["strong"]`: `uratio * batch_size` unlabeled images, each with one
  weak and one strong view (the same images in the same order);
- `inputs["index"]`: each unlabeled image's position in the unlabeled pool;
- `inputs["hidden"]`: its hidden true label (`y_hidden`), or -1;
- `inputs["batch_labels"]` and `labels`: the labeled images' class indices (in the inputs
  too, for algorithms whose forward pass mixes labels: MixMatch). Keras weighs each batch's
  logged loss by the size of the first input in key order, which this key is: the labeled
  batch, present in every batch (the supervised baseline's have no unlabeled image).

Batch `step` is a pure function of `(seed, step)` (`fewlabels.stepwise`): each side visits
its pool in a new seeded order every pass, forever (train with `steps_per_epoch`), and the
views' random transforms are seeded by the step. So views differ from step to step and epoch
to epoch but not between two runs with the same seed, and `ssl_stream(..., start_step=N)`
yields exactly what an uninterrupted stream yields from step N on: a resumed run sees the
same data in the same order. Rows (tabular data) get tabular views:
see `fewlabels.views.tabular`.

The unlabeled pool can stream from disk (`unlabeled_files`, a `fewlabels.data.folders.ImageFiles`):
it then follows the unlabeled rows of `x` (if any) in the pool, and each step reads and
decodes only its `uratio * B` files, several steps ahead and in parallel, so memory holds the
file names and a few batches whatever the size of the pool.
"""

from __future__ import annotations

import numpy as np

from fewlabels.errors import InputError


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
    start_step: int = 0,
    unlabeled_files=None,
    with_unlabeled: bool = True,
    weak_unlabeled: bool = True,
):
    """A `tf.data.Dataset` of `(inputs, labels)` for `SemiSupervisedModel.fit`, one per step.

    Args:
        x: every image (or row), labeled and unlabeled.
        y: class indices, -1 for unlabeled.
        batch_size, uratio: labeled images per batch (B), and unlabeled images per labeled
            image (mu; the batch has `uratio * B`).
        weak, strong: the weak- and strong-view policies (Keras layers), None for identity.
        y_hidden: true labels of the unlabeled rows, for monitoring only (-1 = unknown).
        seed: seeds the order of both pools and the views.
        start_step: the first step to yield (a resumed run starts where it stopped).
        unlabeled_files: more unlabeled images, as files read from disk per batch (a
            `fewlabels.data.folders.ImageFiles` decoded to the shape of `x`'s images).
        with_unlabeled: False for a supervised baseline: its batches carry no unlabeled
            images (empty `weak`, `strong`, `index`), and the pool may have none.
        weak_unlabeled: False when nothing reads the unlabeled weak view (Distill): then
            `inputs["weak"]` holds the images unchanged.

    Returns:
        The dataset, and the number of unlabeled images (the pool size for algorithm state).

    Example:
    ```python
    stream, n_unlabeled = ssl_stream(x, y, weak=build_policy("weak", seed=0),
                                     strong=build_policy("strong", seed=1))
    ```
    """
    import tensorflow as tf

    from fewlabels.stepwise import batch_indices, indexed_stream

    y = np.asarray(y, dtype=np.int64)
    labeled, unlabeled, n_files = _check_stream(
        x, y, batch_size, uratio, start_step=start_step, unlabeled_files=unlabeled_files,
        with_unlabeled=with_unlabeled)
    hidden = (np.full(len(unlabeled), -1, np.int64) if y_hidden is None
              else np.asarray(y_hidden, np.int64)[unlabeled])
    x = np.asarray(x)
    x_lab, y_lab = tf.constant(x[labeled]), tf.constant(y[labeled])
    x_all, unlabeled_rows = _pool(x, unlabeled)
    hid = tf.constant(np.concatenate([hidden, np.full(n_files, -1, np.int64)]))
    n_lab, n_mem, u_batch = len(labeled), len(unlabeled), batch_size * uratio
    n_unl = n_mem + n_files

    def make_batch(step, loaded=None):
        rows = batch_indices(step, batch_size, n_lab, seed)
        if not with_unlabeled:
            index = tf.zeros((0,), tf.int64)
            xu = tf.zeros((0, *x.shape[1:]), tf.float32)
        elif loaded is None:
            index = batch_indices(step, u_batch, n_unl, seed + 1)
            xu = tf.cast(tf.gather(x_all, tf.gather(unlabeled_rows, index)), tf.float32)
        else:
            index, xu = loaded
        xl = tf.cast(tf.gather(x_lab, rows), tf.float32)
        labels = tf.gather(y_lab, rows)
        xw = seeded_view(weak, xu, seed + 1000, step) if with_unlabeled and weak_unlabeled else xu
        xs = seeded_view(strong, xu, seed + 2000, step) if with_unlabeled else xu
        inputs = {"labeled": seeded_view(weak, xl, seed, step), "weak": xw, "strong": xs,
                  "index": index, "hidden": tf.gather(hid, index), "batch_labels": labels}
        return inputs, labels

    load = (file_reader(unlabeled_files, x_all, unlabeled_rows, u_batch, seed)
            if n_files and with_unlabeled else None)
    return indexed_stream(start_step, make_batch, load), n_unl


def _pool(x: np.ndarray, unlabeled: np.ndarray):
    """`x` as a tensor, and the row numbers of its unlabeled part.

    The pool is read through its row numbers, not copied out of `x`, and held in a variable:
    a tensor the dataset's map captured would be copied into its graph. (Under a
    tf.distribute strategy's scope a variable would be a distributed one: a constant then.)
    """
    import tensorflow as tf

    x_all = tf.constant(x) if tf.distribute.has_strategy() else tf.Variable(x, trainable=False)
    return x_all, tf.constant(unlabeled, tf.int64)


def seeded_view(layer, images, seed: int, step):
    """`layer`'s view of `images` at `step`, seeded by `(seed, step)` (None: the identity)."""
    from fewlabels.stepwise import reseed

    if layer is None:
        return images
    reseed(layer, seed, step)
    return layer(images, training=True)


def _check_stream(x, y, batch_size, uratio, *, start_step, unlabeled_files, with_unlabeled):
    """The labeled and unlabeled rows of `y` and the number of files, all checked."""
    if len(x) != len(y):
        raise InputError(f"x has {len(x)} rows but y has {len(y)} labels.")
    labeled = np.flatnonzero(y >= 0)
    unlabeled = np.flatnonzero(y < 0)
    if len(labeled) == 0:
        raise InputError("no labeled rows: consistency training needs some labels.")
    n_files = 0 if unlabeled_files is None else len(unlabeled_files)
    if len(unlabeled) == 0 and n_files == 0 and with_unlabeled:
        raise InputError("no unlabeled rows: use supervised training instead.")
    if n_files and tuple(unlabeled_files.shape) != tuple(np.shape(x)[1:]):
        raise InputError(
            f"the unlabeled files are decoded to {unlabeled_files.shape} but x's images are "
            f"{tuple(np.shape(x)[1:])}; read both at the same image_size and channels.")
    if batch_size < 1 or uratio < 1:
        raise InputError(f"batch_size and uratio must be >= 1; got {batch_size}, {uratio}.")
    if not isinstance(start_step, int | np.integer) or start_step < 0:
        raise InputError(f"start_step must be an integer >= 0; got {start_step!r}.")
    return labeled, unlabeled, n_files


def file_reader(unlabeled_files, x_all, unlabeled_rows, u_batch: int, seed: int):
    """`read(step)`: `(index, images)`, the unlabeled images of a step drawn from rows of
    `x_all` (`unlabeled_rows`) first, then files (an `ImageFiles` or an `ImageShards`:
    anything with `encoded(indices)`, `image_size` and `channels`), `u_batch` of them, in
    a seeded order (`seed + 1`). Consistency training's streamed pool, and pretraining's."""
    import tensorflow as tf

    from fewlabels.stepwise import batch_indices

    n_mem = int(unlabeled_rows.shape[0])
    n_unl = n_mem + len(unlabeled_files)

    def read(step):
        from fewlabels.data.folders import decode_batch

        index = batch_indices(step, u_batch, n_unl, seed + 1)
        raw = unlabeled_files.encoded(tf.maximum(index - n_mem, 0))  # one read per batch
        images = decode_batch(raw, unlabeled_files.image_size, unlabeled_files.channels)
        if n_mem:  # rows of `x` first (their files' reads, of file 0, are not used)
            rows = tf.gather(unlabeled_rows, tf.minimum(index, n_mem - 1))
            in_memory = tf.cast(tf.gather(x_all, rows), tf.float32)
            images = tf.where((index < n_mem)[:, None, None, None], in_memory, images)
        return index, images

    return read
