"""The active-learning benchmark's curve on images."""

from __future__ import annotations

import argparse

import active_learning
import numpy as np


def test_each_round_of_an_image_curve_reveals_the_budget_and_refits_the_cnn():
    rng = np.random.default_rng(0)
    x = rng.random((120, 8, 8, 1), dtype=np.float32)
    y = np.repeat(np.arange(10), 12)
    data = (x, y, x[:30], y[:30])
    args = argparse.Namespace(rounds=2, budget=3, steps=10, uratio=1)
    curve = active_learning.one_curve(data, "supervised", "margin", 0, args)["labels_curve"]
    assert [n for n, _ in curve] == [10, 13, 16]
    assert all(0.0 <= a <= 1.0 for _, a in curve)
