"""The estimators: `TableEnsemble`, `SelfTraining`, `ConsistencyTraining`, `TeacherStudent`,
and loading a saved one.

All subclass `Estimator` (`estimators.base`), which knows nothing of its subclasses:
`load_estimator` here reads a run directory's `config.json` and picks the class that wrote it.
The classes load on first use, so that reading their parameters stays fast.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from fewlabels.errors import InputError
from fewlabels.estimators.base import CONFIG_FILE, Estimator
from fewlabels.files import read_json

ESTIMATORS = {
    "SelfTraining": "fewlabels.estimators.self_training",
    "ConsistencyTraining": "fewlabels.estimators.consistency",
    "TableEnsemble": "fewlabels.estimators.ensemble",
    "TeacherStudent": "fewlabels.estimators.teacher_student",
}
"""Each estimator class, by the name `config.json` records, and its module."""


def __getattr__(name: str):
    if name in ESTIMATORS:
        return getattr(import_module(ESTIMATORS[name]), name)
    raise AttributeError(f"module 'fewlabels.estimators' has no attribute {name!r}")


def load_estimator(directory: str | Path, *, trust_model: bool = False) -> Estimator:
    """Load a run directory with the estimator class that wrote it (`safe_mode=True`).

    Args:
        directory: a folder written by an estimator's `save`.
        trust_model: skip the model file inspection and Keras safe mode, for a file you
            trust (see `fewlabels.model_files`).

    Returns:
        The fitted estimator.

    Example:
    ```python
    model = load_estimator("runs/demo")
    model.predict(x_new)
    ```
    """
    config = read_json(Path(directory) / CONFIG_FILE) if Path(directory).is_dir() else {}
    name = config.get("estimator", "SelfTraining") if isinstance(config, dict) else None
    if name not in ESTIMATORS:
        raise InputError(f"{directory}: unknown estimator {name!r} in {CONFIG_FILE}.")
    return __getattr__(name).load(directory, trust_model=trust_model)


__all__ = ["ConsistencyTraining", "Estimator", "SelfTraining", "TableEnsemble", "TeacherStudent",
           "load_estimator"]
