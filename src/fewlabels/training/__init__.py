"""Training plumbing: one training stage, prediction, saving, checkpoints and exact resume.

Everything that lets a run stop and continue lives here: `stage` (one Keras training stage
with early stopping, prediction, model files), `checkpoint` (the checkpoint store, what a
checkpoint holds, fingerprints), `recorder` (the callback that writes checkpoints during
`fit`, SIGTERM, resuming mid-epoch) and `stages` (checkpoints of a run made of several
stages, such as self-training's rounds). Lower layers than the estimators: nothing here
imports an estimator.
"""

from fewlabels.training.stage import (
    PREDICT_BATCH_SIZE,
    ResumableEarlyStopping,
    ValidationLoss,
    copy_model,
    load_model,
    op_determinism,
    predict_proba,
    save_model,
    seed_everything,
    train_stage,
)

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
