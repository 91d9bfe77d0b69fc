"""Views of feature rows for consistency training on tables (FixMatch-style SSL on CSV files).

Keras has augmentation layers for images only, so these two are written here:

- `FeatureNoise`: Gaussian noise scaled per feature (`noise * std_j` for feature j), the weak
  view: a small perturbation that keeps the row's class.
- `SwapNoise`: each cell, with probability `rate`, takes the value of the same feature in
  another row of the batch (swap-noise corruption, as in denoising autoencoders for tables
  and VIME's feature masking), the strong view: the row stays realistic per feature while
  its joint pattern is corrupted.

Both are seeded `fewlabels.views.base.DataView` layers (`keras.random.SeedGenerator`), so
they run inside `tf.data` on every Keras backend and repeat for the same seed.
"""

from __future__ import annotations

import keras
import numpy as np

from fewlabels.errors import InputError
from fewlabels.views import TABULAR_VIEWS
from fewlabels.views.base import DataView


class FeatureNoise(DataView):
    """Add `N(0, (noise * std_j)^2)` to feature j (Keras's `GaussianNoise` has one scale).

    Args:
        std: the per-feature standard deviations of the data.
        noise: the noise scale, as a fraction of each feature's standard deviation.
        seed: the seed.
    """

    def __init__(self, std, noise: float = 0.1, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.std = np.asarray(std, dtype="float32").tolist()
        self.noise = float(noise)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=True):
        if not training or self.noise == 0:
            return x
        ops = self.ops
        scale = ops.convert_to_tensor(self.std, x.dtype) * self.noise
        return x + ops.random.normal(ops.shape(x), seed=self.seed_generator()) * scale

    def get_config(self) -> dict:
        return {**super().get_config(), "std": self.std, "noise": self.noise, "seed": self.seed}


class SwapNoise(DataView):
    """Replace each cell, with probability `rate`, by the same feature of another batch row.

    Args:
        rate: the share of cells swapped.
        noise: Gaussian noise added afterwards, as a fraction of each feature's `std`.
        std: the per-feature standard deviations (for `noise`).
        seed: the seed.
    """

    def __init__(self, rate: float = 0.3, noise: float = 0.1, std=None, seed: int | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.noise_layer = FeatureNoise(std if std is not None else [1.0], noise, seed=seed)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(None if seed is None else seed + 1)

    def call(self, x, training=True):
        if not training:
            return x
        ops, seed = self.ops, self.seed_generator()
        n = ops.shape(x)[0]
        order = ops.random.shuffle(ops.arange(n), seed=seed)
        swap = ops.random.uniform(ops.shape(x), seed=seed) < self.rate
        return self.noise_layer(ops.where(swap, ops.take(x, order, axis=0), x))

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "noise": self.noise_layer.noise,
                "std": self.noise_layer.std, "seed": self.seed}


def build_tabular_view(name: str, x: np.ndarray, *, noise: float = 0.1, swap_rate: float = 0.3,
                       seed: int | None = None):
    """A named view for feature rows: `"none"`, `"noise"` (weak) or `"swap"` (strong).

    Args:
        name: the view.
        x: the training rows (their per-feature standard deviations scale the noise).
        noise: Gaussian noise, as a fraction of each feature's standard deviation.
        swap_rate: `"swap"`: the share of cells swapped between rows.
        seed: the seed.

    Returns:
        A Keras layer (call it with `training=True`), or None for `"none"`.

    Example:
    ```python
    weak = build_tabular_view("noise", x_train, seed=0)
    strong = build_tabular_view("swap", x_train, seed=1)
    ```
    """
    if name not in TABULAR_VIEWS:
        raise InputError(f"unknown tabular view {name!r}; choose from {TABULAR_VIEWS}.")
    if noise < 0 or not 0 <= swap_rate <= 1:
        raise InputError(f"noise must be >= 0 and swap_rate in [0, 1]; got {noise}, "
                             f"{swap_rate}.")
    # A constant feature gets no noise: the MLP standardizes each feature by its std, so
    # noise on a feature that never varies would be magnified without bound (digits' blank
    # border pixels sent every prediction to one class this way).
    std = np.std(np.asarray(x, dtype="float64"), axis=0)
    if name == "none":
        return None
    if name == "noise":
        return FeatureNoise(std, noise, seed=seed)
    return SwapNoise(swap_rate, noise, std, seed=seed)
