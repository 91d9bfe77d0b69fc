import keras
import numpy as np
import pytest

from fewlabels.algorithms import create
from fewlabels.algorithms.base import masked_cross_entropy
from fewlabels.algorithms.distill import check_teacher_targets
from fewlabels.errors import InputError


def distill(**params):
    algorithm = create("distill", **params)
    algorithm.build_state(3, 4, None)
    algorithm.set_targets(np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 0.0],
                                    [0.1, 0.1, 0.8], [0.4, 0.35, 0.25]], "float32"))
    return algorithm


STRONG = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]],
                  "float32")
WEAK = np.array([[0.97, 0.02, 0.01], [0.3, 0.4, 0.3], [0.01, 0.01, 0.98], [0.5, 0.3, 0.2]],
                "float32")
BATCH = {"index": np.array([0, 1, 2, 3])}


def value(x):
    return float(keras.ops.convert_to_numpy(x))


def test_the_teachers_rows_are_the_targets_and_zero_rows_are_left_out():
    out = distill().unsupervised(None, STRONG, BATCH, None)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out["mask"]), [1, 0, 1, 1])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out["pseudo_labels"]),
                                  [0, 0, 2, 0])
    rows = np.array([[0.7, 0.2, 0.1], [0, 0, 0], [0.1, 0.1, 0.8], [0.4, 0.35, 0.25]])
    expected = -np.sum(rows * np.log(STRONG), axis=1).sum() / 4  # FixMatch's batch mean
    assert value(out["loss"]) == pytest.approx(expected, rel=1e-5)
    hard = distill(soft=False, threshold=0.5).unsupervised(None, STRONG, BATCH, None)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(hard["mask"]), [1, 0, 1, 0])
    assert value(hard["loss"]) == pytest.approx(-(np.log(0.5) + np.log(0.6)) / 4, rel=1e-5)


def test_a_consistency_term_adds_fixmatch_on_the_students_own_confident_weak_views():
    algorithm = distill(consistency=0.5)
    assert algorithm.uses_weak and algorithm.needs_weak_view
    assert not create("distill").uses_weak  # without it, no weak-view pass
    both = value(algorithm.unsupervised(WEAK, STRONG, BATCH, None)["loss"])
    alone = value(distill().unsupervised(WEAK, STRONG, BATCH, None)["loss"])
    own = np.eye(3, dtype="float32")[WEAK.argmax(1)]
    fixmatch = value(masked_cross_entropy(own, STRONG, np.array([1, 0, 1, 0], "float32")))
    assert both == pytest.approx(alone + 0.5 * fixmatch, rel=1e-5)


def test_targets_of_the_wrong_shape_or_not_probabilities_are_refused():
    algorithm = create("distill")
    algorithm.build_state(3, 4, None)
    with pytest.raises(InputError, match=r"the pool needs \(4, 3\)"):
        algorithm.set_targets(np.zeros((3, 3)))
    with pytest.raises(InputError, match="finite probabilities"):
        algorithm.set_targets(np.full((4, 3), np.nan))
    with pytest.raises(InputError, match="consistency must be >= 0"):
        create("distill", consistency=-1.0)
    with pytest.raises(InputError, match="cannot read them from streamed files"):
        check_teacher_targets(algorithm, np.zeros((4, 3)), 4, 3, streamed=True)
