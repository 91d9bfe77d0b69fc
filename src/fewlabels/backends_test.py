"""fewlabels on the JAX backend: the smoke script in a process of its own.

Keras fixes its backend once per process, so the check runs `python -m
fewlabels.testing.backend_smoke` with `KERAS_BACKEND=jax`. jax is a dev dependency: this test
fails, rather than skips, where it is missing.
"""

import json
import os
import subprocess
import sys

import numpy as np

from fewlabels.testing.backend_smoke import trajectory


def test_algorithms_and_estimators_run_on_the_jax_backend_as_on_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "fewlabels.testing.backend_smoke"], env=env,
                          capture_output=True, text=True, timeout=900)
    report = done.stdout + done.stderr[-3000:]
    assert done.returncode == 0, report
    assert "backend: jax" in done.stdout, report
    assert "all checks passed on jax" in done.stdout, report
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("trajectory: "))
    on_jax = json.loads(line.removeprefix("trajectory: "))
    on_tensorflow = trajectory()  # this process runs on TensorFlow
    assert len(set(np.round(on_tensorflow["loss"], 4))) > 1, on_tensorflow  # losses move
    assert max(on_tensorflow["mask_rate"]) > 0, on_tensorflow  # the unlabeled term is on
    for key, values in on_tensorflow.items():
        np.testing.assert_allclose(on_jax[key], values, rtol=1e-4, atol=1e-6, err_msg=(
            f"{key}: the same weights, data and views train differently on JAX"))
