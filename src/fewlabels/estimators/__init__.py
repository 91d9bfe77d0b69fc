"""The estimators: `SelfTraining`, `ConsistencyTraining`, and loading a saved one.

Both subclass `Estimator` (`estimators.base`), which knows nothing of its subclasses:
`load_estimator` here reads a run directory's `config.json` and picks the class that wrote it.
"""

from __future__ import annotations

from pathlib import Path

from fewlabels.errors import InputError
from fewlabels.estimators.base import CONFIG_FILE, Estimator
from fewlabels.estimators.consistency import ConsistencyTraining
from fewlabels.estimators.self_training import SelfTraining
from fewlabels.files import read_json

ESTIMATORS: dict[str, type[Estimator]] = {
    "SelfTraining": SelfTraining,
    "ConsistencyTraining": ConsistencyTraining,
}


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
    return ESTIMATORS[name].load(directory, trust_model=trust_model)


__all__ = ["ConsistencyTraining", "Estimator", "SelfTraining", "load_estimator"]
