"""`import fewlabels` lets plain Keras load fewlabels' saved models, in safe mode, whichever
of the two is imported first."""

import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def saved_ensemble(tmp_path_factory):
    from sklearn.datasets import make_moons

    from fewlabels import TableEnsemble

    x, y = make_moons(80, noise=0.1, random_state=0)
    y[10:] = -1
    model = TableEnsemble(members=("linear", "kernel")).fit(x, y)
    path = tmp_path_factory.mktemp("run")
    model.save(path)
    return path / "model.keras", x[:4], model.predict_proba(x[:4])


@pytest.mark.parametrize("imports", ["import fewlabels, keras", "import keras, fewlabels"])
def test_plain_keras_loads_a_saved_ensemble_after_import_fewlabels(saved_ensemble, imports):
    path, x, proba = saved_ensemble
    code = (f"{imports}; import numpy as np; "
            f"m = keras.models.load_model({str(path)!r}, safe_mode=True); "
            f"print([l.__class__.__name__ for l in m.layers]); "
            f"print(np.asarray(m.predict(np.array({x.tolist()!r}), verbose=0)).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    names, predicted = out.stdout.strip().splitlines()[-2:]
    assert "RBFFeatures" in names  # a fewlabels layer, found by plain Keras
    np.testing.assert_allclose(np.array(eval(predicted)), proba, atol=1e-5)


def test_without_fewlabels_plain_keras_cannot_locate_the_layer(saved_ensemble):
    path = saved_ensemble[0]
    code = f"import keras; keras.models.load_model({str(path)!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0 and "Could not locate class 'RBFFeatures'" in out.stderr
