"""Tests for the pure pseudo-label selection functions."""

import numpy as np
import pytest

from fewlabels.estimators.selection import (
    balance_by_prior,
    confident_rows,
    most_confident,
    pseudo_targets,
    select_pseudo_labels,
)

PROBA = np.array([
    [0.95, 0.05],
    [0.60, 0.40],
    [0.99, 0.01],
    [0.10, 0.90],
    [0.97, 0.03],
])


def test_confident_rows_uses_a_strict_threshold_as_scikit_learn():
    np.testing.assert_array_equal(confident_rows(PROBA, 0.95), [2, 4])  # 0.95 is not > 0.95
    np.testing.assert_array_equal(confident_rows(PROBA, 0.0), [0, 1, 2, 3, 4])


def test_most_confident_keeps_the_k_most_confident_rows_of_the_pool():
    np.testing.assert_array_equal(most_confident(PROBA, 1), [2])
    np.testing.assert_array_equal(most_confident(PROBA, 3), [0, 2, 4])
    np.testing.assert_array_equal(most_confident(PROBA, 9), [0, 1, 2, 3, 4])


def test_balance_by_prior_caps_an_over_predicted_class():
    # Class 0 is predicted 4 times; with a 50/50 prior and 4 rows to share, it keeps its 2
    # most confident rows and class 1 its only one.
    np.testing.assert_array_equal(balance_by_prior(PROBA, 4, np.array([0.5, 0.5])), [2, 3, 4])


def test_balance_by_prior_fills_a_class_below_the_threshold_so_it_does_not_starve():
    proba = np.array([[0.99, 0.01], [0.98, 0.02], [0.97, 0.03], [0.4, 0.6], [0.45, 0.55]])
    assert confident_rows(proba, 0.9).tolist() == [0, 1, 2]
    rows = select_pseudo_labels(proba, criterion="threshold", threshold=0.9, k_best=1,
                                prior=np.array([0.5, 0.5]))
    # 3 rows pass; shared 2 + 2 by the prior: class 1 takes its two best, though below 0.9.
    np.testing.assert_array_equal(rows, [0, 1, 3, 4])


def test_select_pseudo_labels_without_prior_is_the_plain_criterion():
    rows = select_pseudo_labels(PROBA, criterion="threshold", threshold=0.9, k_best=1,
                                prior=None)
    np.testing.assert_array_equal(rows, [0, 2, 4])  # row 3's 0.90 is not above 0.9
    with pytest.raises(ValueError, match="unknown criterion"):
        select_pseudo_labels(PROBA, criterion="bogus", threshold=0.9, k_best=1, prior=None)


def test_hard_targets_are_one_hot_class_indices_and_soft_targets_are_probabilities():
    hard = pseudo_targets(PROBA[:2], soft=False)
    np.testing.assert_array_equal(hard, [[1, 0], [1, 0]])
    soft = pseudo_targets(PROBA[:2], soft=True)
    np.testing.assert_allclose(soft, PROBA[:2])
