import keras
import numpy as np
import pytest

from fewlabels.training.optimizers import build_optimizer, build_schedule


def test_the_warm_up_rises_linearly_then_the_cosine_decays_to_zero():
    schedule = build_schedule(0.1, 100, warmup_fraction=0.2)
    rate = [float(keras.ops.convert_to_numpy(schedule(s))) for s in (0, 10, 20, 60, 100)]
    assert rate[0] == 0.0 and rate[1] == pytest.approx(0.05) and rate[2] == pytest.approx(0.1)
    assert rate[3] == pytest.approx(0.05, abs=1e-6) and rate[4] == pytest.approx(0.0, abs=1e-7)
    assert float(keras.ops.convert_to_numpy(build_schedule(0.1, 100)(0))) == pytest.approx(0.1)


@pytest.mark.parametrize("decay_all", [True, False])
def test_weight_decay_can_spare_batchnorm_and_biases(decay_all):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                              keras.layers.BatchNormalization()])
    for v in model.trainable_variables:
        v.assign(np.ones(v.shape, "float32"))
    optimizer = build_optimizer("sgd", 0.1, steps=10, weight_decay=0.5, decay_all=decay_all)
    optimizer.apply_gradients([(np.zeros(v.shape, "float32"), v)
                               for v in model.trainable_variables])
    after = {v.path.split("/")[-1]: float(np.asarray(v).ravel()[0])
             for v in model.trainable_variables}
    assert after["kernel"] < 1.0  # decayed either way
    spared = [after[k] == 1.0 for k in ("bias", "gamma", "beta")]
    assert all(spared) if not decay_all else not any(spared)
