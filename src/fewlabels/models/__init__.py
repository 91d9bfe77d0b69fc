"""Model builders: the chooser (`chooser.py`), the MLP, the compact CNN and WRN-28-2, and
`keras.applications` backbones with a new head (`transfer.py`).

The builders import Keras, so they load on first use: importing `fewlabels.models.chooser`
to validate a parameter stays fast.
"""

from importlib import import_module

_LAZY = {"build_cnn": "fewlabels.models.cnn", "build_wrn": "fewlabels.models.cnn",
         "build_mlp": "fewlabels.models.mlp"}

__all__ = ["build_cnn", "build_mlp", "build_wrn"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fewlabels.models' has no attribute {name!r}")
