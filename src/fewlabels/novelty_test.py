"""The open-set score, its threshold and the suspected items."""

import numpy as np
import pytest

from fewlabels.errors import InputError
from fewlabels.novelty import energy_scores, known_scores, suspected, threshold_for


def test_the_score_is_the_largest_class_probability():
    proba = np.array([[0.7, 0.2, 0.1], [0.34, 0.33, 0.33], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(known_scores(proba), [0.7, 0.34, 1.0])
    assert known_scores(np.zeros((0, 3))).shape == (0,)


def test_the_energy_reads_the_size_of_the_logits_where_the_largest_probability_cannot():
    small, large = np.array([[1.0, 0.0, 0.0]]), np.array([[10.0, 9.0, 9.0]])
    np.testing.assert_allclose(known_scores(np.exp(small) / np.exp(small).sum()),
                               known_scores(np.exp(large) / np.exp(large).sum()))
    np.testing.assert_allclose(energy_scores(small), np.log(np.e + 2))
    np.testing.assert_allclose(energy_scores(large) - energy_scores(small), 9.0)
    assert energy_scores(np.array([[1000.0, 999.0]]))[0] == pytest.approx(1000.3133, 1e-6)
    assert energy_scores(np.zeros((0, 4))).shape == (0,)
    with pytest.raises(InputError, match=r"logits must be \(n, n_classes\)"):
        energy_scores(np.ones(3))
    with pytest.raises(InputError, match="logits has non-finite values"):
        energy_scores(np.array([[0.0, np.inf]]))


@pytest.mark.parametrize("proba, said", [
    (np.ones(3), "proba must be (n, n_classes); got shape (3,)"),
    (np.array([[0.5, np.nan]]), "non-finite"),
])
def test_bad_probabilities_are_refused_by_name(proba, said):
    with pytest.raises(InputError, match=said.replace("(", r"\(").replace(")", r"\)")):
        known_scores(proba)


@pytest.mark.parametrize("known_recall", [0.5, 0.9, 0.95, 1.0])
def test_the_threshold_keeps_the_asked_share_of_known_items_at_or_above_it(known_recall):
    scores = np.random.default_rng(0).uniform(0.3, 1.0, 1000)
    threshold = threshold_for(scores, known_recall)
    assert np.mean(scores >= threshold) >= known_recall
    assert np.mean(scores > threshold) < known_recall  # and no lower than it needs to be
    assert threshold in scores


@pytest.mark.parametrize("known_recall", [0, 1.5, True, "0.9", -0.1])
def test_a_bad_known_recall_is_named(known_recall):
    with pytest.raises(InputError, match=f"known_recall must be in \\(0, 1\\]; got "
                                         f"{known_recall!r}"):
        threshold_for([0.5, 0.9], known_recall)


def test_a_threshold_needs_known_scores():
    with pytest.raises(InputError, match="at least one known item"):
        threshold_for([])


def test_suspected_items_are_those_below_the_threshold_the_least_known_first():
    scores = np.array([0.9, 0.2, 0.5, 0.2, 0.6, 0.95])
    assert suspected(scores, 0.6).tolist() == [1, 3, 2]  # ties: the earlier first; 0.6 kept
    assert suspected(scores, 0.1).tolist() == []
