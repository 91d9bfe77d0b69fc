"""Training on two devices of one host follows one device: algorithm state is one copy.

`fewlabels.testing.two_replicas` trains each stateful algorithm (and whole estimators' fits)
on one device and on two, in a process of its own (the devices are declared before the
backend starts), from the same weights on the same stream: on TensorFlow two logical CPU
devices under `tf.distribute.MirroredStrategy`, on JAX two host devices under
`keras.distribution.DataParallel`.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def two_devices(*args: str, backend: str = "tensorflow") -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "fewlabels.testing.two_replicas", *args],
                          capture_output=True, text=True, timeout=600, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs():
    return two_devices()


@pytest.fixture(scope="module")
def jax_runs():
    return two_devices("fixmatch", "flexmatch", backend="jax")


def test_every_replica_holds_the_same_algorithm_state_and_it_moved(runs):
    for method, by_replicas in runs.items():
        state = by_replicas["2"]["state"]
        for name, copies in state.items():
            assert len(copies) == 2, (method, name)
            np.testing.assert_array_equal(copies[0], copies[1], err_msg=f"{method} {name}")
    assert runs["flexmatch"]["2"]["state"]["ssl_step"][0] == 12
    remembered = np.asarray(runs["flexmatch"]["2"]["state"]["remembered"][0])
    assert 0 < np.sum(remembered >= 0) < len(remembered)  # some images were remembered
    assert runs["freematch"]["2"]["state"]["tau"][0] != pytest.approx(0.25)  # it moved


@pytest.mark.parametrize("method", ["fixmatch", "flexmatch", "softmatch"])
def test_two_replicas_follow_one_device_step_for_step(runs, method):
    one, two = runs[method]["1"], runs[method]["2"]
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    for a, b in zip(two["weights"], one["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for name, copies in one["state"].items():  # FlexMatch's memory: every image, once
        np.testing.assert_allclose(two["state"][name][0], copies[0], atol=1e-5,
                                   err_msg=name)


def test_freematchs_fairness_term_is_per_replica_and_stays_close(runs):
    # Its fairness term is a non-linear function of each replica's batch (as in USB's
    # distributed runs), so two replicas differ from one device, by little.
    one, two = runs["freematch"]["1"], runs["freematch"]["2"]
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=2e-2)
    assert not np.allclose(two["loss"], one["loss"], rtol=1e-6)


@pytest.mark.parametrize("method", ["fixmatch", "flexmatch"])
def test_on_jax_two_host_devices_hold_one_state_and_follow_one_device(jax_runs, method):
    # keras.distribution.DataParallel compiles one program over the global batch: each
    # device holds the same copy of every state variable (FlexMatch's per-image memory).
    one, two = jax_runs[method]["1"], jax_runs[method]["2"]
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    for a, b in zip(two["weights"], one["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for name, copies in two["state"].items():
        assert len(copies) == 2, name
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=name)
        np.testing.assert_allclose(copies[0], one["state"][name][0], atol=1e-5, err_msg=name)
    if method == "flexmatch":
        remembered = np.asarray(two["state"]["remembered"][0])
        assert 0 < np.sum(remembered >= 0) < len(remembered)


@pytest.fixture(scope="module", params=["tensorflow", "jax"])
def estimators(request):
    return two_devices("estimators", backend=request.param)


@pytest.mark.parametrize("name", ["fixmatch", "flexmatch", "self-training"])
def test_a_whole_fit_on_two_devices_follows_one_device(estimators, name):
    # `distributed("mirrored")` around the fit: the networks are built in the scope (on
    # TensorFlow one step per compiled call, validation by a direct call). Without dropout
    # (TensorFlow draws its masks per replica) the trajectory is the one device's.
    one, two = estimators["1"][name], estimators["2"][name]
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    np.testing.assert_allclose(two["proba"], one["proba"], atol=1e-5)


def test_labelling_on_two_devices_gives_each_half_of_every_batch_and_the_same_rows(
        estimators):
    # `batch_predictor`: 37 rows padded to 38, 19 on each device, gathered back in order.
    one, two = estimators["prediction"]["1"], estimators["prediction"]["2"]
    assert one["rows"] == [37]
    assert two["rows"] == [19, 19]
    np.testing.assert_allclose(two["proba"], one["proba"], atol=1e-6)


def test_on_jax_a_batch_that_does_not_split_across_devices_is_refused_by_name(
        estimators, request):
    if request.node.callspec.params["estimators"] == "tensorflow":
        assert estimators["uneven"] is None  # MirroredStrategy splits uneven batches itself
        return
    assert estimators["uneven"] == (
        "a batch of 3 rows does not split evenly across 2 devices: make the batch size (and "
        "uratio times it) a multiple of the device count.")


def test_multi_worker_on_tensorflow_is_refused_naming_the_upstream_issue_and_jax():
    from fewlabels.errors import FewLabelsError
    from fewlabels.training.distribute import build_strategy

    with pytest.raises(FewLabelsError, match=r"keras-team/keras#20585.*KERAS_BACKEND=jax"):
        build_strategy("multi-worker")
    with pytest.raises(FewLabelsError, match=r"strategy must be one of"):
        build_strategy("ring")
    assert build_strategy("none") is None


def test_mirrored_is_refused_on_a_keras_backend_without_an_engine(monkeypatch):
    import keras

    from fewlabels.errors import FewLabelsError
    from fewlabels.training.distribute import build_strategy

    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(FewLabelsError, match=r"Keras runs on torch here: use strategy='none'"):
        build_strategy("mirrored")
    assert build_strategy("auto") is None  # one device
