"""Consistency-regularization algorithms, one module each, all in one registry.

`fewlabels.algorithms.names()` lists them; `create(name, **hyperparameters)` builds one.
Importing this package registers every algorithm below.
"""

from fewlabels.algorithms import (  # noqa: F401  (each import registers its algorithm)
    fixmatch,
    flexmatch,
    freematch,
    mean_teacher,
    mixmatch,
    pseudo_label,
    softmatch,
    supervised,
)
from fewlabels.algorithms.base import Algorithm
from fewlabels.algorithms.registry import create, get, names

__all__ = ["Algorithm", "create", "get", "names"]
