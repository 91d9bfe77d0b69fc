"""fewlabels: train good classifiers when only a few examples carry labels.

The whole public API is importable from here; heavy modules (Keras, TensorFlow) load only
when first used, so `import fewlabels` and `fewlabels --help` stay fast.

- Estimators: `TableEnsemble` (the default for tables), `SelfTraining`,
  `ConsistencyTraining`, `TeacherStudent` (scikit-learn style), `make_estimator`
  (one by method name), `methods()` (every method name), `load_estimator` (a saved run).
- The settings they share, built once and passed whole: `Network`, `Views`, `Optimizer`,
  `Budget`, `WeightAverage`, self-training's `Stopping`, `Selection`, `FineTune`, and the
  table ensemble's `Graph`.
- Data: `load_table` (a text/CSV file), `load_images` (folders, `.npz`, built-in datasets).
- Runs: `fit_run`, `evaluate_run`, `predict_run`, `demo` (what the command line does), and
  `augment_preview`.
- Errors: `FewLabelsError` and its kinds (`fewlabels.errors`), `FewLabelsWarning`.

Example:
```python
import fewlabels

table = fewlabels.load_table("data.csv")        # unlabeled rows marked in the label column
model = fewlabels.TableEnsemble().fit(table.x, table.y, classes=table.classes)
```
"""

from importlib import import_module

from fewlabels.errors import (
    CheckpointError,
    FewLabelsError,
    FewLabelsWarning,
    InputError,
    InputTypeError,
    MissingMethodError,
    NonFiniteLossError,
    NotFittedError,
    ResumeMismatchError,
    StorageError,
    TrainingInterruptedError,
)
from fewlabels.keras_layers import register_with_keras

__version__ = "0.1.0"

register_with_keras()  # `keras.models.load_model` then reads fewlabels' saved models

_LAZY = {
    "SelfTraining": "fewlabels.estimators.self_training",
    "ConsistencyTraining": "fewlabels.estimators.consistency",
    "TableEnsemble": "fewlabels.estimators.ensemble",
    "TeacherStudent": "fewlabels.estimators.teacher_student",
    **{name: "fewlabels.estimators.specs" for name in (
        "Budget", "FineTune", "Graph", "Network", "Optimizer", "Selection", "Stopping",
        "Views", "WeightAverage")},
    "load_estimator": "fewlabels.estimators",
    "make_estimator": "fewlabels.workflow",
    "methods": "fewlabels.workflow",
    "fit_run": "fewlabels.workflow",
    "evaluate_run": "fewlabels.workflow",
    "predict_run": "fewlabels.workflow",
    "demo": "fewlabels.workflow",
    "export_run": "fewlabels.workflow",
    "load_table": "fewlabels.data.table",
    "load_images": "fewlabels.data.sources",
    "augment_preview": "fewlabels.views.preview",
}

__all__ = [
    "Budget",
    "CheckpointError",
    "ConsistencyTraining",
    "FewLabelsError",
    "FewLabelsWarning",
    "FineTune",
    "Graph",
    "InputError",
    "InputTypeError",
    "MissingMethodError",
    "Network",
    "NonFiniteLossError",
    "NotFittedError",
    "Optimizer",
    "ResumeMismatchError",
    "Selection",
    "SelfTraining",
    "Stopping",
    "StorageError",
    "TableEnsemble",
    "TeacherStudent",
    "TrainingInterruptedError",
    "Views",
    "WeightAverage",
    "__version__",
    "augment_preview",
    "demo",
    "evaluate_run",
    "export_run",
    "fit_run",
    "load_estimator",
    "load_images",
    "load_table",
    "make_estimator",
    "methods",
    "predict_run",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fewlabels' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
