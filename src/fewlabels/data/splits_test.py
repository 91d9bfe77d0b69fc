"""Tests for the seeded stratified splits."""

import numpy as np
import pytest

from fewlabels.data.splits import labeled_subset, stratified_split
from fewlabels.errors import FewLabelsError


def test_stratified_split_holds_out_each_class_share_and_is_seeded():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    kept, held = stratified_split(y, 0.2, seed=3)
    assert np.bincount(y[held]).tolist() == [10, 6, 4]
    assert len(np.intersect1d(kept, held)) == 0 and len(kept) + len(held) == len(y)
    _, again_held = stratified_split(y, 0.2, seed=3)
    np.testing.assert_array_equal(held, again_held)
    _, other = stratified_split(y, 0.2, seed=4)
    assert not np.array_equal(held, other)


def test_unbalanced_and_single_row_classes_keep_a_training_row():
    y = np.array([0] * 20 + [1, 1] + [2])
    kept, held = stratified_split(y, 0.5, seed=0)
    assert set(y[kept]) == {0, 1, 2}
    assert np.sum(y[held] == 2) == 0


def test_stratified_split_refuses_bad_fraction_and_unlabeled_rows():
    with pytest.raises(FewLabelsError, match=r"fraction must be in \[0, 1\); got 1.0"):
        stratified_split(np.array([0, 1]), 1.0, seed=0)
    with pytest.raises(FewLabelsError, match="labeled rows only"):
        stratified_split(np.array([0, -1]), 0.2, seed=0)


def test_labeled_subset_per_class_and_fraction_with_floor():
    y = np.repeat([0, 1], [100, 10])
    keep = labeled_subset(y, n_per_class=5, seed=0)
    assert np.bincount(y[keep]).tolist() == [5, 5]
    keep = labeled_subset(y, fraction=0.1, min_per_class=2, seed=0)
    assert np.bincount(y[keep]).tolist() == [10, 2]
    with pytest.raises(FewLabelsError, match="exactly one"):
        labeled_subset(y, seed=0)


def test_hide_labels_keeps_n_per_class_and_returns_the_hidden_truth():
    from fewlabels.data.splits import hide_labels

    y = np.array([0] * 10 + [1] * 3 + [-1] * 4)
    y_partial, y_hidden = hide_labels(y, 5, seed=1)
    assert np.sum(y_partial == 0) == 5 and np.sum(y_partial == 1) == 3  # a small class keeps all
    assert np.all(y_partial[-4:] == -1) and np.all(y_hidden[-4:] == -1)
    hidden = y_hidden >= 0
    np.testing.assert_array_equal(y_hidden[hidden], y[hidden])
    assert not np.any(hidden & (y_partial >= 0))
    np.testing.assert_array_equal(hide_labels(y, 5, seed=1)[0], y_partial)  # seeded
    with pytest.raises(FewLabelsError, match="every row is unlabeled"):
        hide_labels(np.array([-1, -1]), 1)


def test_stratified_folds_deal_each_class_evenly_and_are_seeded():
    from fewlabels.data.splits import stratified_folds

    y = np.array([0] * 7 + [1] * 3 + [2] * 10)
    folds = stratified_folds(y, 5, seed=4)
    assert folds.max() == 2  # the smallest class has 3 rows: 3 folds
    for c in range(3):
        counts = np.bincount(folds[y == c], minlength=3)
        assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(folds, stratified_folds(y, 5, seed=4))
    assert not np.array_equal(folds, stratified_folds(y, 5, seed=5))
    assert stratified_folds(np.array([0, 0, 0, 1]), 5, seed=0).max() == 1  # at least 2
    with pytest.raises(FewLabelsError, match="max_folds"):
        stratified_folds(y, 1, seed=0)
