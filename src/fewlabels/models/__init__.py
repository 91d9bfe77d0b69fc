"""Model builders: backbones and classification heads."""

from fewlabels.models.mlp import build_mlp

__all__ = ["build_mlp"]
