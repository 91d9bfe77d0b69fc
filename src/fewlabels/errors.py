"""The error and warning types fewlabels raises, and the exit code of each.

Every error fewlabels raises is a `FewLabelsError`; its subclass says what kind of failure it
is, and `exit_code` is what the `fewlabels` command returns for it:

| error | what happened | exit code |
|---|---|---|
| `InputError` (a `ValueError`) | a bad parameter, file or input; the message names it | 2 |
| `NotFittedError` (an `InputError`) | predicting or saving before `fit` or `load` | 2 |
| `ResumeMismatchError` (an `InputError`) | resuming a run with other data or settings | 2 |
| `NonFiniteLossError` | training produced a NaN or infinite loss | 3 |
| `StorageError` | reading or writing a file failed (a full disk, permissions) | 4 |
| `CheckpointError` (a `StorageError`) | no usable checkpoint, or one could not be written | 4 |
| `TrainingInterruptedError` | SIGTERM: a checkpoint was written, then training stopped | 143 |

Ctrl-C exits with 130, and an unexpected error (a bug: please report it) with 1.
"""

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_INPUT = 2
EXIT_NON_FINITE = 3
EXIT_STORAGE = 4
EXIT_CTRL_C = 130
EXIT_TERMINATED = 143


class FewLabelsError(Exception):
    """The base of every error fewlabels raises; `exit_code` is the command's exit code."""

    exit_code = EXIT_UNEXPECTED


class InputError(FewLabelsError, ValueError):
    """A bad parameter, file or input, with a message that names the bad value.

    It is a `ValueError`, so code written for scikit-learn's conventions catches it too.
    """

    exit_code = EXIT_INPUT


class InputTypeError(InputError, TypeError):
    """Input of the wrong type (not numbers, a sparse matrix): a `TypeError` too."""


class MissingMethodError(InputError, AttributeError):
    """A learner lacks a method fewlabels needs (`predict_proba`): an `AttributeError` too,
    as scikit-learn raises."""


class NotFittedError(InputError, AttributeError):
    """The estimator is used before `fit` or `load` (as scikit-learn's `NotFittedError`).

    `not_fitted` raises it as scikit-learn's `NotFittedError` too, when scikit-learn is
    installed, so that code written for scikit-learn catches it.
    """


def not_fitted(message: str) -> NotFittedError:
    """A `NotFittedError` that is also `sklearn.exceptions.NotFittedError` (scikit-learn is
    imported only here, so that `import fewlabels` stays fast)."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    global _BOTH_NOT_FITTED
    if _BOTH_NOT_FITTED is None:
        _BOTH_NOT_FITTED = type("NotFittedError", (NotFittedError, SklearnNotFittedError),
                                {"__module__": __name__, "__doc__": NotFittedError.__doc__})
    return _BOTH_NOT_FITTED(message)


_BOTH_NOT_FITTED = None


class ResumeMismatchError(InputError):
    """A run asked to resume differs from its checkpoint (data, classes, settings), or a
    folder holds another run's checkpoints."""


class NonFiniteLossError(FewLabelsError, RuntimeError):
    """Training produced a NaN or infinite loss; the run stopped without a final model."""

    exit_code = EXIT_NON_FINITE


class StorageError(FewLabelsError, RuntimeError):
    """Reading or writing a file failed (a full disk, permissions); the cause is kept."""

    exit_code = EXIT_STORAGE


class CheckpointError(StorageError):
    """A checkpoint could not be written, or none usable is left to resume from."""


class TrainingInterruptedError(FewLabelsError, RuntimeError):
    """Training was stopped by SIGTERM after writing a checkpoint (resume with `--resume`)."""

    exit_code = EXIT_TERMINATED


class FewLabelsWarning(UserWarning):
    """Something the user should know about the data or the run, which does not stop it."""
