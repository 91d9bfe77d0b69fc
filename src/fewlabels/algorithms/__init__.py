"""Consistency-regularization algorithms, one module each, all in one registry.

`fewlabels.algorithms.names()` lists them; `create(name, **hyperparameters)` builds one.
Importing this package imports every module in it, and each module registers its algorithm.
"""

from fewlabels.algorithms.base import Algorithm, ConformanceCase
from fewlabels.algorithms.registry import create, discover, get, methods_table, names

discover(__name__)

__all__ = ["Algorithm", "ConformanceCase", "create", "discover", "get", "methods_table",
           "names"]
