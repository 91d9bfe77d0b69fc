"""Input validation at the door: messages that name the bad value, in a readable size."""

import numpy as np
import pytest

from fewlabels.errors import FewLabelsError
from fewlabels.validation import check_features, check_training_data


def test_a_pair_of_label_arrays_is_refused_by_its_length_not_read_as_one_hot_rows():
    x = np.zeros((5, 3), "float32")
    y_partial, y_hidden = np.array([0, 1, -1, -1, 0]), np.array([-1, -1, 1, 0, -1])
    with pytest.raises(FewLabelsError, match=r"X has 5 rows but y has 2 labels "
                                             r"\(y has shape \(2, 5\)\)\.$"):
        check_training_data(x, (y_partial, y_hidden), None)


def test_a_bad_one_hot_row_is_named_and_shown_cut_to_its_first_values():
    x = np.zeros((3, 2), "float32")
    y = np.zeros((3, 30))
    y[0, 0] = 1.0
    y[1, [2, 25]] = 1.0  # two ones
    with pytest.raises(FewLabelsError) as error:
        check_training_data(x, y, None)
    message = str(error.value)
    assert message.startswith("y row 1 is not one-hot ([0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
                              "... (30 values)]): each row needs a single 1")
    assert len(message) < 200


def test_uint8_images_are_kept_as_they_are_and_float32_rows_are_not_copied():
    images = np.zeros((5, 4, 4, 1), np.uint8)
    checked = check_features(images, images=True)
    assert checked.dtype == np.uint8 and np.shares_memory(checked, images)  # 4x less memory
    rows = np.zeros((5, 3), np.float32)
    assert np.shares_memory(check_features(rows), rows)
    assert check_features(np.zeros((5, 4, 4, 1), np.uint16), images=True).dtype == np.float32
    assert check_features(np.zeros((5, 3), np.uint8)).dtype == np.float32  # rows: float32
