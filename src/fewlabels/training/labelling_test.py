import keras
import numpy as np

from fewlabels.training.labelling import predict_views, reestimate_batchnorm


def bn_model(frozen: bool = False) -> keras.Model:
    """Input -> Flatten -> BatchNorm -> Dense softmax: the BN layer sees the pixels."""
    inputs = keras.Input((4, 4, 1))
    norm = keras.layers.BatchNormalization(momentum=0.99, name="bn")
    norm.trainable = not frozen
    hidden = norm(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))


def test_batchnorm_statistics_become_the_average_of_batch_statistics_on_the_data():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 2.0, (600, 4, 4, 1)).astype("float32")
    model = bn_model()
    bn = model.get_layer("bn")
    assert reestimate_batchnorm(model, x, batch_size=100) == 1
    # six batches of 100: the moving mean is their mean, i.e. the data's mean
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.reshape(600, -1).mean(0), atol=1e-4)
    batch_vars = x.reshape(6, 100, -1).var(axis=1).mean(0)
    np.testing.assert_allclose(bn.moving_variance.numpy(), batch_vars, rtol=1e-3)
    assert bn.momentum == 0.99  # restored
    before = bn.moving_mean.numpy().copy()
    reestimate_batchnorm(model, x, batch_size=100)  # the same data: the same statistics
    np.testing.assert_allclose(bn.moving_mean.numpy(), before, atol=1e-5)


def test_frozen_batchnorm_and_models_without_it_are_left_alone():
    x = np.random.default_rng(1).normal(5.0, 2.0, (50, 4, 4, 1)).astype("float32")
    model = bn_model(frozen=True)
    assert reestimate_batchnorm(model, x) == 0
    np.testing.assert_array_equal(model.get_layer("bn").moving_mean.numpy(), np.zeros(16))
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert reestimate_batchnorm(dense, np.ones((5, 3), "float32")) == 0


def test_flipped_views_average_an_image_and_its_mirror_image():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (10, 4, 4, 1)).astype("float32")
    model = bn_model()
    plain = predict_views(model, x)
    mirrored = predict_views(model, x[:, :, ::-1])
    both = predict_views(model, x, flip=True)
    np.testing.assert_allclose(both, (plain + mirrored) / 2, rtol=1e-6)
    np.testing.assert_allclose(both.sum(axis=1), 1.0, rtol=1e-9)
    assert not np.allclose(plain, mirrored)  # so the average is a real change
    rows = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    x_rows = rng.normal(size=(6, 3)).astype("float32")
    np.testing.assert_array_equal(predict_views(rows, x_rows, flip=True),
                                  predict_views(rows, x_rows))  # rows are never mirrored
