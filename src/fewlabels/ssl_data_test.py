"""Tests for the consistency-training stream: disjoint pools, views, seeding."""

import numpy as np
import pytest

from fewlabels.errors import FewLabelsError
from fewlabels.ssl_data import ssl_stream
from fewlabels.views.augment import build_policy


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


def _batches(stream, n):
    return [{k: v.numpy() for k, v in inputs.items()} | {"labels": labels.numpy()}
            for inputs, labels in stream.take(n)]


def test_a_stream_restarted_at_step_n_yields_what_the_uninterrupted_stream_yields_from_n():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (40, 16, 16, 1)).astype(np.float32)
    y = np.where(np.arange(40) < 10, np.arange(40) % 2, -1)

    def stream(start):
        return ssl_stream(x, y, batch_size=4, uratio=2, seed=3, start_step=start,
                          weak=build_policy("weak", seed=3),
                          strong=build_policy("strong", seed=4))[0]

    whole = _batches(stream(0), 8)
    resumed = _batches(stream(5), 3)
    for a, b in zip(whole[5:], resumed, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_every_pass_visits_each_row_once_in_a_new_order_and_views_change_between_epochs():
    x = np.random.default_rng(1).uniform(0, 255, (24, 8, 8, 1)).astype(np.float32)
    y = np.where(np.arange(24) < 8, np.arange(24) % 2, -1)
    weak = build_policy("weak", seed=0)
    stream, _ = ssl_stream(x, y, batch_size=4, uratio=1, seed=0, weak=weak)
    batches = _batches(stream, 8)
    unlabeled_orders = [np.concatenate([b["index"] for b in batches[i:i + 4]])
                        for i in range(0, 8, 4)]
    for order in unlabeled_orders:  # 16 unlabeled rows: 4 steps per pass
        assert sorted(order) == list(range(16))
    assert not np.array_equal(unlabeled_orders[0], unlabeled_orders[1])
    # The same unlabeled image gets a different weak view in two passes.
    first = {int(i): v for b in batches[:4] for i, v in zip(b["index"], b["weak"], strict=True)}
    second = {int(i): v for b in batches[4:] for i, v in zip(b["index"], b["weak"], strict=True)}
    assert any(not np.array_equal(first[i], second[i]) for i in first)


def test_a_negative_start_step_is_refused():
    x = id_images()
    y = np.where(np.arange(30) < 6, np.arange(30) % 2, -1)
    with pytest.raises(FewLabelsError, match="start_step must be an integer >= 0; got -1"):
        ssl_stream(x, y, start_step=-1)


def test_the_first_input_in_key_order_is_the_labeled_batch_so_logged_losses_count():
    """Keras weighs a batch's logged loss by its first input (in sorted key order): that
    must be the labeled batch, which every batch has, or the supervised baseline's logged
    loss is 0 (its batches carry no unlabeled image)."""
    x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    y = np.array([0, 1] * 5 + [-1] * 10)
    for with_unlabeled in (True, False):
        stream, _ = ssl_stream(x, y, batch_size=4, uratio=2, with_unlabeled=with_unlabeled)
        inputs, _ = next(iter(stream))
        assert sorted(inputs)[0] == "batch_labels" and inputs["batch_labels"].shape[0] == 4


def test_the_stream_runs_without_tf_data_autotuning_whose_thread_delays_deletion():
    x = id_images()
    y = np.where(np.arange(30) % 3 == 0, np.arange(30) % 2, -1)
    stream, _ = ssl_stream(x, y, batch_size=4, uratio=2)
    assert stream.options().autotune.enabled is False
    assert len(list(stream.take(3))) == 3  # and it still yields its batches
