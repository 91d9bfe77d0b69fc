"""Tests for the tabular views: scaled noise, swap noise, bad names."""

import keras
import numpy as np
import pytest

from fewlabels.errors import FewLabelsError
from fewlabels.views.tabular import build_tabular_view


def test_noise_is_scaled_per_feature_and_swap_keeps_column_values():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(0, 1, 500), rng.normal(0, 100, 500)]).astype("float32")
    noisy = keras.ops.convert_to_numpy(build_tabular_view("noise", x, noise=0.1, seed=0)(x))
    spread = (noisy - x).std(axis=0)
    assert 0.07 < spread[0] < 0.13 and 7 < spread[1] < 13
    swapped = keras.ops.convert_to_numpy(
        build_tabular_view("swap", x, noise=0.0, swap_rate=0.3, seed=1)(x))
    changed = np.mean(swapped != x)
    assert 0.2 < changed < 0.4
    for j in range(2):  # every value comes from the same column of some row
        assert np.isin(swapped[:, j], x[:, j]).all()
    assert build_tabular_view("none", x) is None


def test_bad_views_are_named():
    x = np.zeros((4, 2), "float32")
    with pytest.raises(FewLabelsError, match="unknown tabular view 'blur'"):
        build_tabular_view("blur", x)
    with pytest.raises(FewLabelsError, match="noise must be >= 0 and swap_rate in"):
        build_tabular_view("swap", x, swap_rate=1.5)
