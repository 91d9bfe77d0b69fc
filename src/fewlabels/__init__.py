"""fewlabels: train good classifiers when only a few examples carry labels.

The public API is small:

- `fewlabels.SelfTraining`: the self-training (pseudo-labeling) classifier, sklearn-style.
- `fewlabels.data.load_table`: read a text/CSV file of features and (partly missing) labels.
- `fewlabels.workflow`: the run-directory workflows the CLI calls (`fit_run`, `evaluate_run`,
  `predict_run`, `demo`).

Heavy modules (Keras, TensorFlow) are imported only when first needed, so `import fewlabels`
and `fewlabels --help` stay fast.
"""

import os

# TensorFlow's C++ runtime logs harmless chatter at every level up to ERROR (CUDA probes on
# CPU-only machines, graph attributes from newer builds). Python exceptions are unaffected.
# `setdefault` keeps any value the user chose.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

from fewlabels.errors import FewLabelsError, FewLabelsWarning

__all__ = ["FewLabelsError", "FewLabelsWarning", "SelfTraining", "__version__"]


def __getattr__(name: str):
    if name == "SelfTraining":
        from fewlabels.self_training import SelfTraining

        return SelfTraining
    raise AttributeError(f"module 'fewlabels' has no attribute {name!r}")
