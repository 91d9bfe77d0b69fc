"""Tests for the consistency-training stream: disjoint pools, views, seeding."""

import numpy as np
import pytest

from fewlabels.augment import build_policy
from fewlabels.errors import FewLabelsError
from fewlabels.ssl_data import ssl_stream


def id_images(n=30, side=8):
    """Image i is filled with the value i, so a batch tells which rows it holds."""
    return np.repeat(np.arange(n, dtype=np.float32), side * side).reshape(n, side, side, 1)


def test_labeled_and_unlabeled_rows_never_overlap_and_indices_point_into_the_pool():
    x = id_images()
    y = np.where(np.arange(30) % 3 == 0, np.arange(30) % 2, -1)
    stream, n_unlabeled = ssl_stream(x, y, batch_size=4, uratio=2)
    unlabeled_rows = np.flatnonzero(y < 0)
    assert n_unlabeled == len(unlabeled_rows)
    seen_labeled, seen_unlabeled = set(), set()
    for inputs, labels in stream.take(20):
        rows = inputs["labeled"].numpy()[:, 0, 0, 0].astype(int)
        np.testing.assert_array_equal(labels.numpy(), y[rows])
        seen_labeled |= set(rows)
        pool = inputs["weak"].numpy()[:, 0, 0, 0].astype(int)
        np.testing.assert_array_equal(unlabeled_rows[inputs["index"].numpy()], pool)
        seen_unlabeled |= set(pool)
        assert inputs["labeled"].shape[0] == 4 and inputs["weak"].shape[0] == 8
    assert seen_labeled == set(np.flatnonzero(y >= 0))
    assert not seen_labeled & seen_unlabeled
    assert seen_unlabeled <= set(unlabeled_rows)


def test_weak_and_strong_views_differ_and_the_same_seed_repeats_them():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (40, 16, 16, 1)).astype(np.float32)
    y = np.where(np.arange(40) < 10, np.arange(40) % 2, -1)

    def first_batches(seed):
        stream, _ = ssl_stream(x, y, batch_size=4, uratio=2, seed=seed,
                               weak=build_policy("weak", seed=seed),
                               strong=build_policy("strong", seed=seed + 1))
        return [(i["weak"].numpy(), i["strong"].numpy()) for i, _ in stream.take(2)]

    a, b = first_batches(0), first_batches(0)
    weak, strong = a[0]
    assert not np.allclose(weak, strong)
    for (w1, s1), (w2, s2) in zip(a, b, strict=True):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(s1, s2)


def test_hidden_labels_travel_with_their_images_and_bad_input_is_named():
    x = id_images()
    y = np.where(np.arange(30) < 6, np.arange(30) % 2, -1)
    y_hidden = np.where(y < 0, np.arange(30) % 5, -1)
    stream, _ = ssl_stream(x, y, batch_size=2, uratio=3, y_hidden=y_hidden)
    inputs, _ = next(iter(stream))
    rows = inputs["weak"].numpy()[:, 0, 0, 0].astype(int)
    np.testing.assert_array_equal(inputs["hidden"].numpy(), y_hidden[rows])
    with pytest.raises(FewLabelsError, match="no unlabeled rows"):
        ssl_stream(x, np.zeros(30, int))
    with pytest.raises(FewLabelsError, match="no labeled rows"):
        ssl_stream(x, -np.ones(30, int))
    with pytest.raises(FewLabelsError, match="x has 30 rows but y has 3"):
        ssl_stream(x, np.zeros(3, int))


def test_batch_size_and_uratio_must_be_positive():
    x = id_images()
    y = np.where(np.arange(30) < 6, np.arange(30) % 2, -1)
    with pytest.raises(FewLabelsError, match="batch_size and uratio must be >= 1; got 4, 0"):
        ssl_stream(x, y, batch_size=4, uratio=0)
