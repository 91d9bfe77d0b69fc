"""Self-supervised pretraining of a network's body on unlabeled data (`fewlabels pretrain`).

The body (`fewlabels.models.body`: every layer below the output layer) learns to map two views
of one item close together and views of different items apart, with a small projection head
on top that is thrown away afterwards:

- images: SimCLR (Chen et al. 2020): two views of each image from the library's augmentation
  policies (`strong` by default: RandAugment and Cutout, made in `tf.data`), and the NT-Xent
  loss over the 2B views of a batch at temperature 0.5;
- tables: SCARF (Bahri et al. 2022): the anchor is the row itself, its view the row with a
  random 60% of its features replaced by the same feature of random rows of the batch (the
  feature's marginal), and the same loss at temperature 1.

No label is read. The step is `keras.ops` only, so it runs on every Keras backend; the
pretrained body then starts any method's network (`Network(backbone_weights=PATH)`).

Example:
```python
from fewlabels.estimators.pretrain import pretrain
from fewlabels.models.body import save_body_weights

done = pretrain(x_pool, steps=2000)
save_body_weights(done.network, "body.weights.h5")
```
"""

from __future__ import annotations

import dataclasses
import math
import time

import keras
import numpy as np
from keras import ops

from fewlabels.errors import InputError
from fewlabels.models.body import network_body

IMAGE_TEMPERATURE = 0.5
TABLE_TEMPERATURE = 1.0
CORRUPTION = 0.6
PROJECTION = (128, 64)
"""The projection head: one hidden ReLU layer, then the space the loss compares in."""


def nt_xent(z1, z2, temperature: float):
    """The NT-Xent loss (SimCLR): each view's positive is the other view of its item, every
    other view of the batch a negative.

    Args:
        z1, z2: `(n, d)` projections of the first and second views, item `i` in row `i`.
        temperature: the softmax temperature of the cosine similarities.

    Returns:
        The mean loss over the `2n` views.
    """
    z = ops.concatenate([z1, z2], axis=0)
    z = z / ops.sqrt(ops.sum(ops.square(z), axis=1, keepdims=True) + 1e-12)
    n = ops.shape(z1)[0]
    logits = ops.matmul(z, ops.transpose(z)) / temperature
    logits = logits - 1e9 * ops.eye(2 * n, dtype=logits.dtype)  # a view is not its own pair
    targets = ops.concatenate([ops.arange(n, 2 * n), ops.arange(0, n)])
    return ops.mean(keras.losses.sparse_categorical_crossentropy(targets, logits,
                                                                 from_logits=True))


def scarf_view(x, rate: float, seed):
    """SCARF's view of the rows `x`: each cell, with probability `rate`, replaced by the same
    feature of a random row of the batch.

    Args:
        x: `(n, f)` rows.
        rate: the share of cells corrupted.
        seed: a `keras.random.SeedGenerator` (or an int).

    Returns:
        The corrupted rows.
    """
    n, f = ops.shape(x)[0], ops.shape(x)[1]
    corrupt = keras.random.uniform((n, f), seed=seed) < rate
    donors = keras.random.randint((n, f), 0, n, seed=seed)
    return ops.where(corrupt, ops.take_along_axis(x, donors, axis=0), x)


class Contrastive(keras.Model):
    """A body and a projection head trained with NT-Xent on two views of each item.

    `fit` takes batches of `(view_1, view_2)` (images, views made in the input pipeline) or of
    rows (tables: the second view is `scarf_view`, made in the step).

    Args:
        body: the network body (`network_body`), shared with its network.
        temperature: NT-Xent's temperature.
        corruption: tables: SCARF's corruption rate; None for batches of view pairs.
        seed: seeds the corruption.
    """

    def __init__(self, body: keras.Model, *, temperature: float, corruption: float | None,
                 seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.body = body
        self.head = keras.Sequential(
            [keras.layers.Dense(PROJECTION[0], activation="relu", name="projection_hidden"),
             keras.layers.Dense(PROJECTION[1], name="projection")], name="projection_head")
        self.temperature = temperature
        self.corruption = corruption
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if isinstance(x, tuple | list):
            both = ops.concatenate(list(x), axis=0)
        else:
            both = ops.concatenate([x, scarf_view(x, self.corruption, self.seed_generator)],
                                   axis=0)
        return self.head(self.body(both, training=training), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        half = ops.shape(y_pred)[0] // 2
        return nt_xent(y_pred[:half], y_pred[half:], self.temperature)


@dataclasses.dataclass
class Pretrained:
    """What `pretrain` produced.

    Attributes:
        network: the network (with a 2-class output layer, which no method keeps): its body
            holds the pretrained weights (`save_body_weights`).
        losses: the NT-Xent loss per epoch of `steps_per_epoch` steps.
        steps: the optimizer steps taken.
        seconds: the training time.
        objective: `"simclr"` or `"scarf"`.
        network_kind: `"mlp"`, `"cnn"`, `"wrn"` or `"custom"`.
        temperature: the NT-Xent temperature used.
    """

    network: keras.Model
    losses: list[float]
    steps: int
    seconds: float
    objective: str
    network_kind: str
    temperature: float


def pretrain(x, *, network=None, steps: int = 1000, batch_size: int = 256,
             learning_rate: float = 1e-3, temperature: float | None = None,
             corruption: float = CORRUPTION, views: tuple[str, str] = ("strong", "strong"),
             augment_params: dict | None = None, seed: int = 0,
             verbose: int = 0, unlabeled_files=None) -> Pretrained:
    """Pretrain a network's body on unlabeled items: SimCLR for images, SCARF for rows.

    Args:
        x: the items, `(n, f)` rows or `(n, h, w, c)` images in 0..255. Labels are not used.
        network: a `fewlabels.Network` spec (the architecture and sizes the later fit will
            use: `hidden_units`, `cnn_widths`, ...); default `Network()` (the MLP for rows,
            the compact CNN for images). A transfer model is refused.
        steps: optimizer steps (Adam).
        batch_size: items per step (each seen twice); at most the number of items.
        learning_rate: Adam's learning rate.
        temperature: NT-Xent's temperature; default 0.5 for images, 1.0 for rows.
        corruption: rows: the share of each row's cells the view replaces.
        views: images: the two views' policies (`fewlabels.views.augment.build_policy`).
        augment_params: images: options of the policies (`horizontal_flip=False`, ...).
        seed: seeds the network, the batches and the views.
        verbose: Keras's `fit` verbosity.
        unlabeled_files: more images, read from disk batch by batch instead of held in
            memory (`fewlabels.data.folders.ImageFiles` or shards, from
            `load_images(folder, stream_unlabeled=True)`): pools larger than memory. They
            join the images of `x`, which may then be few.

    Returns:
        A `Pretrained`.
    """
    from fewlabels.estimators.specs import Network
    from fewlabels.models.chooser import build_network, choose_network

    x = np.asarray(x)
    n_items = len(x) + (0 if unlabeled_files is None else len(unlabeled_files))
    _check(x, steps, batch_size, corruption, n_items, unlabeled_files)
    spec = Network() if network is None else network
    kind = choose_network(spec.architecture, spec.backbone, x.ndim)
    if kind == "transfer":
        raise InputError("pretrain trains fewlabels' own networks (mlp, cnn, wrn or a custom "
                         "one); a transfer backbone brings its own pretrained weights.")
    images = x.ndim == 4
    keras.utils.set_random_seed(seed)
    model = build_network(kind, x.astype(np.float32) if not images else x, 2, spec)
    temperature = temperature or (IMAGE_TEMPERATURE if images else TABLE_TEMPERATURE)
    learner = Contrastive(network_body(model), seed=seed, temperature=temperature,
                          corruption=None if images else corruption)
    learner.compile(optimizer=keras.optimizers.Adam(learning_rate))
    batch = min(batch_size, n_items)
    stream = _image_pairs(x, batch, views, augment_params or {}, seed, unlabeled_files) \
        if images else _rows(x, batch, seed)
    per_epoch = math.gcd(steps, 50)
    start = time.perf_counter()
    history = learner.fit(stream, steps_per_epoch=per_epoch, epochs=steps // per_epoch,
                          verbose=verbose, shuffle=False)
    return Pretrained(model, [float(v) for v in history.history["loss"]], steps,
                      time.perf_counter() - start, "simclr" if images else "scarf", kind,
                      temperature)


def _check(x: np.ndarray, steps, batch_size, corruption, n_items: int, files) -> None:
    if x.ndim not in (2, 4) or n_items < 2:
        raise InputError(f"pretrain needs at least 2 rows (n, features) or images (n, h, w, "
                         f"c); got shape {x.shape}"
                         + (f" and {len(files)} files" if files is not None else "") + ".")
    if files is not None and (x.ndim != 4 or tuple(files.shape) != tuple(x.shape[1:])):
        raise InputError(f"the unlabeled files are decoded to {tuple(files.shape)}, but the "
                         f"images in memory are {tuple(x.shape[1:])}: pretrain streams "
                         "images of one shape.")
    if not np.issubdtype(x.dtype, np.number):
        raise InputError(f"pretrain needs numbers; got an array of {x.dtype}.")
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if len(bad):
        raise InputError(f"row {bad[0]} of the pretraining data has a non-finite value "
                         f"({len(bad)} rows do).")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be an integer >= 1; got {value!r}.")
    if batch_size < 2:
        raise InputError(f"batch_size must be at least 2 (each item's negatives are the "
                         f"others of its batch); got {batch_size}.")
    if not isinstance(corruption, int | float) or not 0.0 < corruption < 1.0:
        raise InputError(f"corruption must be in (0, 1); got {corruption!r}.")


def _rows(x: np.ndarray, batch: int, seed: int):
    """Batches of rows, a seeded epoch-wise shuffle, forever."""
    import tensorflow as tf

    from fewlabels.stepwise import batch_indices, indexed_stream

    rows = tf.constant(x.astype(np.float32))
    return indexed_stream(0, lambda step: tf.gather(rows, batch_indices(step, batch, len(x),
                                                                        seed)))


def _image_pairs(x: np.ndarray, batch: int, views: tuple[str, str], augment_params: dict,
                 seed: int, files=None):
    """Batches of `(view_1, view_2)` of the same images, the views made in `tf.data`; with
    `files`, the images of `x` and then the files, each batch's files read from disk
    (`fewlabels.ssl_data.file_reader`)."""
    import tensorflow as tf

    from fewlabels.ssl_data import file_reader, seeded_view
    from fewlabels.stepwise import batch_indices, indexed_stream
    from fewlabels.views.augment import build_policy

    first, second = (build_policy(name, seed=seed + i, **augment_params)
                     for i, name in enumerate(views))
    images = tf.constant(x)
    read = None if files is None else file_reader(files, images, tf.range(len(x)), batch,
                                                  seed)

    def pair(step, loaded=None):
        chosen = loaded[1] if loaded is not None else tf.cast(
            tf.gather(images, batch_indices(step, batch, len(x), seed)), tf.float32)
        views = (seeded_view(first, chosen, seed + 1000, step),
                 seeded_view(second, chosen, seed + 2000, step))
        return (views,)  # one element: `fit` reads it as the inputs, with no targets

    return indexed_stream(0, pair, read)
