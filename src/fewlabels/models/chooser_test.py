"""Choosing and building a network from a network spec."""

import numpy as np

from fewlabels import Network
from fewlabels.models.chooser import build_network


def test_a_backbone_without_pretrained_weights_trains_whole_not_frozen():
    x = np.zeros((4, 16, 16, 1), np.float32)
    model = build_network("transfer", x, 3, Network(backbone="cnn", weights="none"))
    backbone = model.get_layer("backbone")
    assert backbone.trainable and backbone.trainable_weights
