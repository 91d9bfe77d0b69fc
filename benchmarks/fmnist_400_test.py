"""The Fashion-MNIST benchmark's table names what its runs were given."""

from __future__ import annotations

import fmnist_400
import pytest


def test_the_table_names_the_labels_per_class_and_whether_any_image_was_unlabeled():
    few = fmnist_400.labeled_text([{"n_labeled": 400}], {"settings": {"labels_per_class": 40}})
    assert few == "40 labels per class (400 labeled), the rest unlabeled"
    every = fmnist_400.labeled_text([{"n_labeled": 60_000}],
                                    {"settings": {"labels_per_class": 6000}})
    assert every == "6000 labels per class (60,000 labeled), no unlabeled images"


def test_zero_labels_per_class_is_refused_before_any_data_is_loaded(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["fmnist_400.py", "--labels-per-class", "0"])
    with pytest.raises(SystemExit):
        fmnist_400.main()
    assert "--labels-per-class must be >= 1; got 0" in capsys.readouterr().err
