"""The error and warning types fewlabels raises at its edges."""


class FewLabelsError(ValueError):
    """A bad parameter, file or input, with a message that names the bad value.

    It is a `ValueError`, so code written for scikit-learn's conventions catches it too.
    """


class FewLabelsWarning(UserWarning):
    """Something the user should know about the data or the run, which does not stop it."""
