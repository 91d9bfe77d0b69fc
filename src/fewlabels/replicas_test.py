"""Algorithm state under `tf.distribute.MirroredStrategy`: one copy, whatever the replicas.

`fewlabels.testing.two_replicas` trains each stateful algorithm on one device and on two
logical CPU devices, in a process of its own (the devices are declared before TensorFlow
starts), from the same weights on the same stream.
"""

import json
import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def runs():
    done = subprocess.run([sys.executable, "-m", "fewlabels.testing.two_replicas"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


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


@pytest.fixture(scope="module")
def estimators():
    done = subprocess.run([sys.executable, "-m", "fewlabels.testing.two_replicas",
                           "estimators"], capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["fixmatch", "self-training"])
def test_a_whole_fit_in_a_mirrored_scope_follows_one_device(estimators, name):
    # `distributed("mirrored")` around the fit: the networks are built in the scope, one step
    # per compiled call, validation by a direct call. Without dropout (its masks are drawn
    # per replica) the trajectory is the one device's.
    one, two = estimators["1"][name], estimators["2"][name]
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    np.testing.assert_allclose(two["proba"], one["proba"], atol=1e-5)


def test_multi_worker_is_refused_naming_the_upstream_issue():
    from fewlabels.errors import FewLabelsError
    from fewlabels.training.distribute import build_strategy

    with pytest.raises(FewLabelsError, match=r"keras-team/keras#20585"):
        build_strategy("multi-worker")
    with pytest.raises(FewLabelsError, match=r"strategy must be one of"):
        build_strategy("ring")
    assert build_strategy("none") is None


def test_mirrored_is_refused_on_another_keras_backend(monkeypatch):
    import keras

    from fewlabels.errors import FewLabelsError
    from fewlabels.training.distribute import build_strategy

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(FewLabelsError, match=r"Keras runs on jax here: use strategy='none'"):
        build_strategy("mirrored")
    assert build_strategy("auto") is None  # one device
