"""fewlabels on a Keras backend other than TensorFlow: `python -m fewlabels.testing.backend_smoke`.

Run it with `KERAS_BACKEND=jax` (`backends_test.py` does, in a subprocess, since Keras picks
its backend once per process). It checks what a user of that backend relies on:

- for every registered algorithm, the conformance suite (`fewlabels.testing.conformance`):
  the loss is finite, the unsupervised gradient follows the mask, the step compiles, zero
  unlabeled weight gives the supervised update, one seeded `fit` step (views made in
  `tf.data`) runs the same twice, and the config round-trips and a saved model reloads with
  `safe_mode=True` and predicts the same (its 40-step learning check runs on TensorFlow:
  `LEARNS_ON_EVERY_BACKEND`); and FixMatch with distribution alignment gives a finite loss
  (SoftMatch aligns by default);
- `ConsistencyTraining` (FixMatch) trains on 8x8 digit images through the `tf.data` stream
  with its per-image RandAugment, and on table rows (wine) with the tabular views, and beats
  chance on held-out data;
- `SelfTraining` trains and predicts on table rows, and on digit images with the `classic`
  augmentation policy (Keras's own random layers, run inside `tf.data`).

It also prints `trajectory()`, FixMatch's per-step losses from fixed weights on fixed data,
which `backends_test.py` compares with TensorFlow's. It prints one line per check and exits
nonzero at the first failure.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

LEARNS_ON_EVERY_BACKEND: tuple[str, ...] = ()
"""The algorithms whose 40-step learning check (about a minute each on JAX, two cores) runs
here: none, since FixMatch's training on digit images below checks that learning happens on
this backend; every algorithm's learning check runs on TensorFlow (`conformance_test.py`),
and its step is the same `keras.ops` code on either backend."""


def trajectory(steps: int = 8) -> dict[str, list[float]]:
    """The per-step losses and mask rate of FixMatch trained from fixed weights on fixed data.

    Everything random is fixed without the backend's generators: the weights are drawn by
    NumPy, the batches and their weak and strong views come from the seeded `tf.data` stream
    (TensorFlow on every backend). So the losses are the same on every backend, up to float
    rounding: `backends_test.py` compares TensorFlow's with JAX's.

    Args:
        steps: training steps.

    Returns:
        `loss`, `unsup_loss` and `mask_rate` at each step.
    """
    import keras
    import numpy as np

    from fewlabels.algorithms import create
    from fewlabels.models.cnn import build_cnn
    from fewlabels.ssl_data import ssl_stream
    from fewlabels.ssl_model import SemiSupervisedModel
    from fewlabels.views.augment import build_policy

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, 8, 8, 1)).astype("float32")
    y = np.where(np.arange(64) < 16, np.arange(64) % 4, -1)
    stream, n_unlabeled = ssl_stream(x, y, batch_size=8, uratio=2,
                                     weak=build_policy("weak", seed=0),
                                     strong=build_policy("strong", seed=1), seed=0)
    backbone = build_cnn((8, 8, 1), 4, widths=(4, 8, 8), dropout=0.0)
    for weight in backbone.weights:
        kind = weight.path.rsplit("/", 1)[-1]
        value = (np.ones if kind in ("gamma", "moving_variance") else np.zeros)(weight.shape)
        if kind in ("kernel", "bias"):
            value = rng.normal(0.0, 0.3, weight.shape)
        weight.assign(value.astype("float32"))
    model = SemiSupervisedModel(backbone, create("fixmatch", threshold=0.3), n_unlabeled)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    history = model.fit(stream, steps_per_epoch=1, epochs=steps, verbose=0, shuffle=False)
    return {key: [float(v) for v in history.history[key]]
            for key in ("loss", "unsup_loss", "mask_rate")}


def main() -> int:
    import json

    import keras
    import numpy as np

    from fewlabels import Budget, FineTune, Network, SelfTraining, Stopping
    from fewlabels.algorithms import names
    from fewlabels.data import hide_labels, load_builtin
    from fewlabels.data.images import load_image_dataset
    from fewlabels.estimators.consistency import ConsistencyTraining
    from fewlabels.testing import conformance as c

    backend = keras.backend.backend()
    print(f"backend: {backend}", flush=True)
    print(f"trajectory: {json.dumps(trajectory())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names():
            for check in c.CHECKS.values():
                if check is not c.check_learns_at_its_defaults or name in LEARNS_ON_EVERY_BACKEND:
                    check(name)
            c.check_config_and_saving(name, Path(tmp))
            print(f"{name}: conformance passed", flush=True)
    c.check_finite_loss("fixmatch", distribution_alignment=True)  # SoftMatch aligns by default
    print("fixmatch with distribution alignment: finite loss", flush=True)

    # 120 steps: at 60, the cosine schedule leaves FixMatch on digits near 0.3 on some CPUs
    fast = dict(budget=Budget(120, steps_per_epoch=20), batch_size=16, uratio=2)
    images = load_image_dataset("digits")
    y_partial, y_hidden = hide_labels(images.y, 10, seed=0)
    model = ConsistencyTraining(method="fixmatch", algorithm_params={"threshold": 0.5},
                                **fast).fit(images.x, y_partial, y_hidden=y_hidden)
    accuracy = float(np.mean(model.predict(images.x_test) == images.y_test))
    print(f"fixmatch on digit images: test accuracy {accuracy:.3f}", flush=True)
    assert accuracy > 0.3, accuracy  # chance is 0.1

    table = load_builtin("wine")

    x, y = table.x, table.y
    y_rows, _ = hide_labels(y, 5, seed=0)
    rows = ConsistencyTraining(method="fixmatch", **fast).fit(x, y_rows)
    accuracy = float(np.mean(rows.predict(x) == y))
    print(f"fixmatch on wine rows: accuracy {accuracy:.3f}", flush=True)
    assert accuracy > 0.6, accuracy  # chance is about 0.4

    selftrained = SelfTraining(stopping=Stopping(30, min_steps=20), rounds=1).fit(x, y_rows)
    accuracy = float(np.mean(selftrained.predict(x) == y))
    print(f"self-training on wine rows: accuracy {accuracy:.3f}", flush=True)
    assert accuracy > 0.6, accuracy

    augmented = SelfTraining(model=Network("cnn", cnn_widths=(8, 16, 16)), augment="classic",
                             stopping=Stopping(40, min_steps=100), rounds=1,
                             finetune=FineTune(2))
    augmented.fit(images.x, y_partial)
    accuracy = float(np.mean(augmented.predict(images.x_test) == images.y_test))
    print(f"self-training with classic augmentation on digit images: test accuracy "
          f"{accuracy:.3f}", flush=True)
    assert accuracy > 0.3, accuracy  # chance is 0.1
    print(f"all checks passed on {backend}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
