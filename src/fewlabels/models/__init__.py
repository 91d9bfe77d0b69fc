"""Model builders: backbones and classification heads."""

from fewlabels.models.cnn import build_cnn, build_wrn
from fewlabels.models.mlp import build_mlp

__all__ = ["build_cnn", "build_mlp", "build_wrn"]
