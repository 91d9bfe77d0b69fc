"""The error and warning types fewlabels raises at its edges."""


class FewLabelsError(ValueError):
    """A bad parameter, file or input, with a message that names the bad value.

    It is a `ValueError`, so code written for scikit-learn's conventions catches it too.
    """


class FewLabelsWarning(UserWarning):
    """Something the user should know about the data or the run, which does not stop it."""


class CheckpointError(FewLabelsError):
    """A checkpoint could not be written or read, or does not match the run resuming it."""


class NonFiniteLossError(FewLabelsError):
    """Training produced a NaN or infinite loss; the run stopped without a final model."""


class TrainingInterruptedError(FewLabelsError):
    """Training was stopped by SIGTERM after writing a checkpoint (resume with `--resume`)."""
