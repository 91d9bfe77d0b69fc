"""Acquisition strategies: scores, rankings, core-set picks, and what they refuse."""

import numpy as np
import pytest

from fewlabels.acquisition import entropy_scores, margin_scores, select
from fewlabels.errors import FewLabelsError

PROBA = np.array([[0.9, 0.05, 0.05],   # sure
                  [0.5, 0.45, 0.05],   # torn between two classes
                  [0.34, 0.33, 0.33],  # torn between three
                  [0.6, 0.4, 0.0]])


def test_margin_and_entropy_score_the_uncertain_rows_highest():
    np.testing.assert_allclose(margin_scores(PROBA), [0.15, 0.95, 0.99, 0.8])
    np.testing.assert_allclose(entropy_scores([[1.0, 0.0], [0.5, 0.5]]), [0.0, np.log(2)],
                               atol=1e-9)
    assert list(select("margin", PROBA, 2)[0]) == [2, 1]
    assert list(select("entropy", PROBA, 4)[0]) == [2, 1, 3, 0]
    # Ties go to the earlier row, so a ranking is reproducible.
    assert list(select("margin", np.full((3, 2), 0.5), 3)[0]) == [0, 1, 2]


def test_k_center_picks_the_item_farthest_from_everything_labeled_or_picked():
    pool = np.array([[0.0], [1.0], [10.0], [10.5], [5.0]])
    labeled = np.array([[0.2]])
    picks, scores = select("k-center", np.full((5, 2), 0.5), 3, features=pool,
                           labeled_features=labeled)
    assert list(picks) == [3, 4, 1]  # 10.5 first; then 5 (nearer to 10.5 than 0.2 is)
    np.testing.assert_allclose(scores, [10.3, 4.8, 0.8])


def test_diverse_margin_does_not_spend_its_budget_on_near_duplicates():
    # Two copies of an uncertain item and a somewhat uncertain one elsewhere: margin takes
    # both copies; diverse-margin takes one copy, then the other region.
    proba = np.array([[0.5, 0.5], [0.5, 0.5], [0.7, 0.3], [0.99, 0.01]])
    features = np.array([[0.0, 0.0], [0.0, 0.01], [5.0, 5.0], [9.0, 9.0]])
    assert list(select("margin", proba, 2)[0]) == [0, 1]
    picks, _ = select("diverse-margin", proba, 2, features=features,
                      labeled_features=np.array([[9.0, 9.0]]))
    assert list(picks) == [0, 2]


def test_typical_picks_the_centre_of_the_largest_cluster_without_labels():
    # A large blob, a small one and scattered outliers: the first pick is the large blob's
    # most typical item, the second the small blob's; a label in the large blob moves the
    # first pick to the small blob. Outliers come last.
    rng = np.random.default_rng(0)
    pool = np.concatenate([rng.normal(0, 0.1, (100, 2)), rng.normal(5, 0.1, (30, 2)),
                           rng.uniform(-20, 20, (5, 2))])
    flat = np.full((135, 2), 0.5)
    picks, scores = select("typical", flat, 3, features=pool, labeled_features=np.zeros((0, 2)))
    assert np.linalg.norm(pool[picks[0]]) < 0.2 and np.linalg.norm(pool[picks[1]] - 5) < 0.3
    assert picks[2] >= 130 and scores[0] > scores[2]
    picks, _ = select("typical", flat, 2, features=pool, labeled_features=np.zeros((1, 2)))
    assert np.linalg.norm(pool[picks[0]] - 5) < 0.3  # (3 clusters: 1 label + 2 picks)


def test_random_is_seeded_and_picks_distinct_items():
    a, _ = select("random", np.full((50, 3), 1 / 3), 10, seed=3)
    b, _ = select("random", np.full((50, 3), 1 / 3), 10, seed=3)
    assert list(a) == list(b) and len(set(a)) == 10
    assert list(select("random", np.full((50, 3), 1 / 3), 10, seed=4)[0]) != list(a)


@pytest.mark.parametrize(("strategy", "budget", "kwargs", "message"), [
    ("uncertain", 1, {}, "strategy must be one of"),
    ("margin", 0, {}, "budget must be a whole number from 1 to the 4 unlabeled items; got 0"),
    ("margin", 5, {}, "got 5"),
    ("margin", 1.5, {}, "got 1.5"),
    ("k-center", 1, {}, "strategy='k-center' needs the model's features of the pool"),
])
def test_bad_settings_are_named(strategy, budget, kwargs, message):
    with pytest.raises(FewLabelsError, match=message):
        select(strategy, PROBA, budget, **kwargs)
