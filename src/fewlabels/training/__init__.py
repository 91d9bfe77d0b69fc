"""Training plumbing: one training stage, prediction, saving, checkpoints and exact resume.

Everything that lets a run stop and continue lives here: `stage` (one Keras training stage
with early stopping, prediction, model files), `checkpoint` (the checkpoint store, what a
checkpoint holds, fingerprints), `recorder` (the callback that writes checkpoints during
`fit`, SIGTERM, resuming mid-epoch) and `stages` (checkpoints of a run made of several
stages: every fit's checkpoints). Lower layers than the estimators: nothing here
imports an estimator. Keras loads when a name of `stage` is first used.
"""

from importlib import import_module

__all__ = [
    "PREDICT_BATCH_SIZE",
    "ResumableEarlyStopping",
    "ValidationLoss",
    "copy_model",
    "load_model",
    "op_determinism",
    "predict_proba",
    "save_model",
    "seed_everything",
    "train_stage",
]


def __getattr__(name: str):
    """The names of `stage`, imported when first used: `fewlabels.training.stages` (which
    the estimators import at load time) stays free of Keras."""
    if name in __all__:
        return getattr(import_module("fewlabels.training.stage"), name)
    raise AttributeError(f"module 'fewlabels.training' has no attribute {name!r}")
