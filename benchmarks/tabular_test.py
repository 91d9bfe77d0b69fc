"""The tabular benchmark's datasets, one cell of it, and its table."""

from __future__ import annotations

import numpy as np
import pytest
import tabular


@pytest.mark.parametrize("name, rows, features, classes", [
    ("iris", 150, 4, 3), ("wine", 178, 13, 3), ("breast_cancer", 569, 30, 2),
    ("digits", 1797, 64, 10), ("penguins", 342, 4, 3), ("cars", 392, 7, 3),
])
def test_each_dataset_loads_from_an_installed_package(name, rows, features, classes):
    x, y = tabular.load_dataset(name)
    assert x.shape == (rows, features) and np.isfinite(x).all()
    assert sorted(np.unique(y)) == list(range(classes))


def test_a_cell_gives_every_method_the_same_split_and_the_table_names_the_best_peer():
    x, y = tabular.load_dataset("iris")
    runs = tabular._cell(x, y, "iris", "5/class", tabular.SETTINGS["5/class"], 0,
                         [tabular.DEFAULT, "sklearn LabelSpreading", "sklearn ST(LR)"])
    assert {r["n_labeled"] for r in runs} == {15} and {r["n_test"] for r in runs} == {45}
    assert all(0.5 < r["test_accuracy"] <= 1.0 for r in runs)
    text = tabular.table(runs, {"command": "test", "date": "today", "machine": {
        "cpu": "cpu", "cores": 2, "ram_gib": 1.0}, "versions": {}})
    row = next(line for line in text.splitlines() if line.startswith("| iris | 5/class"))
    accuracy = {r["method"]: r["test_accuracy"] for r in runs}
    best = max(("sklearn LabelSpreading", "sklearn ST(LR)"), key=accuracy.get)
    assert best.removeprefix("sklearn ") in row
    assert f"{100 * (accuracy[tabular.DEFAULT] - accuracy[best]):+.1f}" in row


def test_every_method_name_survives_the_comma_separated_methods_option():
    assert all("," not in name for name in tabular.METHODS)
    assert set(tabular.PEERS) <= set(tabular.METHODS) and tabular.DEFAULT in tabular.METHODS


def test_the_image_recipe_on_rows_teaches_with_the_network_member_and_its_steps():
    from fewlabels import TeacherStudent
    from fewlabels.estimators.ensemble import NETWORK_STEPS

    model = tabular._teacher_student(3)
    member = tabular._fixmatch(3)
    teacher = model.teacher  # the recipe's settings and budget
    assert isinstance(model, TeacherStudent) and teacher.seed == 3
    assert teacher.budget.steps == 2 * NETWORK_STEPS == 2 * member.budget.steps
    assert model.teacher_share == 0.5
    assert (teacher.method, teacher.optimizer) == (member.method, member.optimizer)
