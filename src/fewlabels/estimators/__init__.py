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
    "TableEnsemble": "fewlabels.estimators.ensemble",
    "SelfTraining": "fewlabels.estimators.self_training",
    "TeacherStudent": "fewlabels.estimators.teacher_student",
    "ConsistencyTraining": "fewlabels.estimators.consistency",
}
"""The registration of each estimator class, by the name `config.json` records, and its
module. The classes say which `--method` names they train (`Estimator.method_names`), how
to build themselves from options (`for_method`) and what a run reports about them; the
workflow and the command line ask them. `fewlabels.methods()` lists the methods in this
order."""


def estimator_class(name: str) -> type[Estimator]:
    """The registered estimator class of that name (as `config.json` records it)."""
    if name not in ESTIMATORS:
        raise InputError(f"unknown estimator {name!r}; known: {list(ESTIMATORS)}.")
    return getattr(import_module(ESTIMATORS[name]), name)


def estimator_classes() -> list[type[Estimator]]:
    """Every registered estimator class, in `ESTIMATORS`' order (no TensorFlow import)."""
    return [estimator_class(name) for name in ESTIMATORS]


def method_estimator(method: str) -> type[Estimator] | None:
    """The estimator class that trains `method` (None for an unknown name)."""
    return next((cls for cls in estimator_classes() if method in cls.method_names()), None)


def __getattr__(name: str):
    if name in ESTIMATORS:
        return estimator_class(name)
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
           "estimator_class", "estimator_classes", "load_estimator", "method_estimator"]
