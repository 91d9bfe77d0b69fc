"""Random view layers that run inside `tf.data` whichever Keras backend trains the model.

fewlabels's input pipeline is `tf.data`, so the views (the weak and strong image views, the
tabular noise) run as TensorFlow graphs inside it, also when the model trains on JAX. Keras's
own preprocessing layers (`RandomFlip`, `RandomTranslation`, ...) do this through their base
class `DataLayer`: inside a `tf.data` graph they compute with the TensorFlow backend's ops and
draw from a TensorFlow-side `SeedGenerator`; called eagerly, they use the configured backend.
A `keras.ops` call inside a plain `Layer` would instead run the configured backend's op (JAX)
on a symbolic `tf.Tensor`, and fail.

`DataView` is that base for fewlabels's own views. Its `ops` is `keras.ops`'s names (with
`ops.random` and `ops.image`) over the backend the layer computes with at that moment, so a
view's code reads as `keras.ops` code; `seed_generator()` is the generator to draw from.

`tf_data_generators(layer)` lists the generators a layer draws from inside `tf.data`
(creating the TensorFlow-side ones when the backend is not TensorFlow), which is what
`fewlabels.stepwise.reseed` sets before each batch.
"""

from __future__ import annotations

import keras

try:  # Keras's base class for preprocessing layers (not in keras.layers as of 3.15)
    from keras.layers import DataLayer as _DataLayer
except ImportError:  # pragma: no cover - depends on the Keras release
    from keras.src.layers.preprocessing.data_layer import DataLayer as _DataLayer


class BackendOps:
    """`keras.ops`'s names over one backend: `numpy` functions first, then the backend's own.

    Args:
        backend: a Keras `DynamicBackend` (a `DataView`'s `backend`).
    """

    def __init__(self, backend) -> None:
        self._backend = backend

    def __getattr__(self, name: str):
        numpy = self._backend.numpy
        if hasattr(numpy, name):
            return getattr(numpy, name)
        return getattr(self._backend, name)  # cast, shape, convert_to_tensor, image, random


class DataView(_DataLayer):
    """A seeded random layer that computes with TensorFlow inside `tf.data` on any backend.

    Subclasses set `self.seed` and `self.generator = keras.random.SeedGenerator(...)` in
    `__init__`, write `call` with `self.ops` in place of `keras.ops` (`self.ops.random.uniform`
    in place of `keras.random.uniform`), and draw with `seed=self.seed_generator()`.

    Example:
    ```python
    class Jitter(DataView):
        def __init__(self, scale=0.1, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.scale, self.seed = scale, seed
            self.generator = keras.random.SeedGenerator(seed)

        def call(self, x, training=True):
            ops = self.ops
            return x + self.scale * ops.random.normal(ops.shape(x), seed=self.seed_generator())
    ```
    """

    @property
    def ops(self) -> BackendOps:
        """`keras.ops` over the backend this layer computes with right now."""
        return BackendOps(self.backend)

    def seed_generator(self):
        """The generator to draw from on the backend this layer computes with right now."""
        return self._get_seed_generator(self.backend._backend)


def tf_data_generators(layer) -> list:
    """Every `SeedGenerator` that `layer` and its sub-layers draw from inside `tf.data`.

    On the TensorFlow backend these are the layers' own generators. On another backend, a
    Keras `DataLayer` (Keras's preprocessing layers, `DataView`) draws from a TensorFlow-side
    generator of its own inside `tf.data`; it is created here, eagerly, so that it exists
    before the pipeline is traced.

    Args:
        layer: a Keras layer.

    Returns:
        The generators, in a fixed order.
    """
    import tensorflow as tf

    on_tensorflow = keras.backend.backend() == "tensorflow"
    found, seen = [], set()
    for sub in layer._flatten_layers(include_self=True):
        if not on_tensorflow and isinstance(sub, _DataLayer) and hasattr(sub, "generator"):
            with tf.init_scope():
                sub.backend.set_backend("tensorflow")
                try:
                    generators = [sub._get_seed_generator("tensorflow")]
                finally:
                    sub.backend.reset()
        else:
            generators = getattr(sub, "_seed_generators", [])
        for generator in generators:
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found
