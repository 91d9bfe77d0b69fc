"""Choosing and building a network from an estimator's parameters."""

import numpy as np

from fewlabels.estimators import SelfTraining
from fewlabels.models.chooser import build_network


def test_a_backbone_without_pretrained_weights_trains_whole_not_frozen():
    x = np.zeros((4, 16, 16, 1), np.float32)
    params = SelfTraining(backbone="cnn", weights="none").params_json()
    model = build_network("transfer", x, 3, params)
    backbone = model.get_layer("backbone")
    assert backbone.trainable and backbone.trainable_weights
