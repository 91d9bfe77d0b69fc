"""Tests for the progress bars of the long phases outside training."""

import numpy as np

from fewlabels import progress
from fewlabels.training.stage import predict_proba


def test_a_bar_counts_the_items_only_when_shown_and_long_enough(capsys):
    items = [[1, 2], [3], [4, 5, 6]]
    assert list(progress.counted(items, 6, "Counting", size=len, min_items=1)) == items
    assert capsys.readouterr().out == ""  # bars are off by default in the library
    with progress.shown():
        assert list(progress.counted(items, 6, "Counting", size=len, min_items=1)) == items
        assert "Counting:" in (out := capsys.readouterr().out) and "6/6" in out
        list(progress.counted(items, 6, "Short", size=len, min_items=7))
        assert capsys.readouterr().out == ""  # fewer than min_items: no bar
    with progress.shown(verbose=0):
        list(progress.counted(items, 6, "Quiet", size=len, min_items=1))
    assert capsys.readouterr().out == ""


def test_a_bar_that_counts_fewer_items_than_announced_still_ends(capsys):
    with progress.shown():
        list(progress.counted(range(3), 5, "Skipping", min_items=1))
    assert "3/5" in capsys.readouterr().out


def test_labelling_a_large_pool_of_images_shows_a_bar_and_rows_do_not(capsys, monkeypatch):
    import keras

    monkeypatch.setattr(progress, "MIN_ITEMS", 100)
    images = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                               keras.layers.Dense(3, activation="softmax")])
    rows = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    with progress.shown():
        proba = predict_proba(images, np.zeros((300, 4, 4, 1), np.float32))
        assert "Predicting 300 images:" in capsys.readouterr().out
        predict_proba(rows, np.zeros((300, 4), np.float32))
        assert capsys.readouterr().out == ""
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
