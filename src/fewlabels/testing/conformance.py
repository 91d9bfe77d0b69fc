"""The checks every registered algorithm must pass, and the one entry each algorithm adds.

`algorithms/conformance_test.py` runs every check below against every name in the registry.
How each check drives an algorithm (its mask on and off) is the `conformance` case its class
carries (`fewlabels.algorithms.ConformanceCase`), so a new algorithm gets the whole suite with
no edit here.

The checks (backend-neutral: gradients come from `gradient`, which uses TensorFlow's
`GradientTape` or `jax.grad`, whichever backend Keras runs on):

- `check_finite_loss`: the loss is finite on random data.
- `check_gradient_follows_the_mask`: the unsupervised term has a nonzero gradient with respect
  to the student when its mask is on, and exactly zero when the mask is all off (a consistency
  term that silently carries no gradient is the bug this exists to catch).
- `check_zero_weight_is_supervised`: with `lambda_u=0`, one update equals the supervised one.
- `check_config_and_saving`: `get_config`/`from_config` round-trips, and a saved model
  reloads with `safe_mode=True` and predicts the same.
- `check_fit_is_seeded`: one `fit` step runs, and the same seed gives the same loss twice.
- `check_fit_runs_under_xla`: training steps compile and run with `jit_compile=True` (XLA
  wants static shapes: FlexMatch's class counts once used `bincount` and crashed there).
- `check_learns_at_its_defaults`: at its default hyperparameters, a 40-step fit on the digits
  with 5 labels a class scores well above chance (FlexMatch, FreeMatch and SoftMatch once
  collapsed onto one class there).
- `check_weak_is_target_is_honest`: an algorithm that declares `weak_is_target` (so that the
  weak view may get a pass of its own with no gradient) really takes no gradient through
  its weak-view outputs; with `separate_weak_pass` its loss in inference mode equals the
  joint pass's, and its unsupervised gradient still follows the mask.

The student used here is one Dense softmax layer over flattened inputs, with weights set so
that its predictions are either confident (0.97 on class 0) or uniform: that fixes whether a
confidence mask is on or off without training anything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from fewlabels.algorithms import ConformanceCase, create, get, names

N_CLASSES = 4
SHAPE = (6, 6, 1)
CONFIDENT = np.log(np.array([0.97, 0.01, 0.01, 0.01], dtype="float32"))


def cases() -> dict[str, ConformanceCase]:
    """Each registered algorithm's conformance case, taken from its class."""
    return {name: get(name).conformance for name in names()}


def student(confident: bool = True, seed: int = 0) -> keras.Model:
    """The tiny student: Flatten -> Dense softmax, confident (0.97) or uniform predictions."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(SHAPE)
    dense = keras.layers.Dense(N_CLASSES, activation="softmax", kernel_initializer="zeros",
                               name="probabilities")  # every fewlabels network's output
    outputs = dense(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    dense.bias.assign(CONFIDENT if confident else np.zeros(N_CLASSES, "float32"))
    return model


def batch(seed: int = 0, n_labeled: int = 4, n_unlabeled: int = 8) -> tuple[dict, np.ndarray]:
    """One random training batch: inputs dict and labels; the strong view differs."""
    rng = np.random.default_rng(seed)
    weak = rng.uniform(0, 1, (n_unlabeled, *SHAPE)).astype("float32")
    labels = rng.integers(0, N_CLASSES, n_labeled).astype("int64")
    inputs = {
        "labeled": rng.uniform(0, 1, (n_labeled, *SHAPE)).astype("float32"),
        "weak": weak,
        "strong": weak + rng.normal(0, 0.5, weak.shape).astype("float32"),
        "index": np.arange(n_unlabeled, dtype="int64"),
        "hidden": np.full(n_unlabeled, -1, "int64"),
        "batch_labels": labels,
    }
    return inputs, labels


def model_for(name: str, confident: bool = True, n_unlabeled: int = 8,
              separate_weak_pass: bool = False, **hyperparameters):
    from fewlabels.ssl_model import SemiSupervisedModel

    return SemiSupervisedModel(student(confident), create(name, **hyperparameters),
                               n_unlabeled, separate_weak_pass=separate_weak_pass)


def check_finite_loss(name: str, **hyperparameters) -> None:
    model = model_for(name, **hyperparameters)
    x, y = batch()
    terms = model.loss_terms(x, y, model(x, training=True))
    for key in ("supervised", "unsupervised", "total"):
        value = float(keras.ops.convert_to_numpy(terms[key]))
        assert np.isfinite(value), f"{name}: the {key} loss is {value}"


def gradient(fn: Callable, values: list) -> tuple[list, object]:
    """The gradient of `fn(values)[0]` with respect to `values`, on the current backend.

    Args:
        fn: a function of a list of tensors returning `(scalar, aux)`.
        values: the tensors.

    Returns:
        `(gradients, aux)`: one gradient per value (None or zeros where `fn` does not depend
        on it), and `fn`'s `aux`.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(values)
            loss, aux = fn(values)
        return tape.gradient(loss, values), aux
    if backend == "jax":
        import jax

        return jax.grad(fn, has_aux=True)(values)
    raise NotImplementedError(f"the conformance suite's gradients need the tensorflow or jax "
                              f"backend; Keras runs on {backend!r}.")


def _unsupervised_gradient(model, x, y) -> tuple[float, np.ndarray]:
    weights = model.backbone.trainable_variables  # the student's; other state is read as is

    def unsupervised(values):
        with keras.StatelessScope(state_mapping=list(zip(weights, values, strict=True))):
            terms = model.loss_terms(x, y, model(x, training=True))
        return terms["unsupervised"], terms["mask"]

    values = [keras.ops.convert_to_tensor(keras.ops.convert_to_numpy(w)) for w in weights]
    grads, mask = gradient(unsupervised, values)
    norm = sum(float(np.abs(keras.ops.convert_to_numpy(g)).sum()) for g in grads
               if g is not None)
    return norm, keras.ops.convert_to_numpy(mask)


def check_gradient_follows_the_mask(name: str, separate_weak_pass: bool = False) -> None:
    case = get(name).conformance
    x, y = batch()
    model = model_for(name, confident=True, separate_weak_pass=separate_weak_pass)
    case.mask_on(model.algorithm)
    norm, mask = _unsupervised_gradient(model, x, y)
    if not case.unsupervised:
        assert norm == 0.0, f"{name}: has no unsupervised term but a gradient of {norm}"
        return
    assert mask.sum() > 0, f"{name}: the mask is off on confident predictions"
    assert norm > 1e-6, f"{name}: the unsupervised term carries no gradient with its mask on"
    if case.mask_off is None:
        return
    model = model_for(name, confident=False, separate_weak_pass=separate_weak_pass)
    case.mask_off(model.algorithm)
    norm, mask = _unsupervised_gradient(model, x, y)
    assert mask.sum() == 0, f"{name}: the mask should be all off here, got {mask}"
    assert norm == 0.0, f"{name}: the mask is all off but the gradient is {norm}"


def check_weak_is_target_is_honest(name: str) -> None:
    if not get(name).weak_is_target:
        return
    x, y = batch()
    model = model_for(name, confident=True)
    get(name).conformance.mask_on(model.algorithm)
    out = model(x, training=True)

    def unsupervised(values):
        with keras.StatelessScope():  # state updates (EMA, counts) are not kept
            return model.loss_terms(x, y, {**out, "weak": values[0]})["unsupervised"], None

    (grad,), _ = gradient(unsupervised, [out["weak"]])
    assert grad is None or not np.any(keras.ops.convert_to_numpy(grad)), (
        f"{name}: declares weak_is_target but takes a gradient through the weak view")
    losses = []
    for separate in (False, True):
        model = model_for(name, confident=True, separate_weak_pass=separate)
        get(name).conformance.mask_on(model.algorithm)
        terms = model.loss_terms(x, y, model(x, training=False))
        losses.append(float(keras.ops.convert_to_numpy(terms["total"])))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6,
                               err_msg=f"{name}: the separate weak pass changes the loss")
    check_gradient_follows_the_mask(name, separate_weak_pass=True)


def check_zero_weight_is_supervised(name: str) -> None:
    x, y = batch()
    weights = {}
    for label, algorithm_name, params in (("ssl", name, {"lambda_u": 0.0}),
                                          ("supervised", "supervised", {})):
        model = model_for(algorithm_name, **params)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        model.train_on_batch(x, y)
        weights[label] = [keras.ops.convert_to_numpy(w) for w in model.backbone.weights]
    for a, b in zip(weights["ssl"], weights["supervised"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7,
                                   err_msg=f"{name}: lambda_u=0 differs from supervised")


def check_config_and_saving(name: str, folder: Path) -> None:
    algorithm = create(name)
    clone = get(name).from_config(algorithm.get_config())
    assert clone.get_config() == algorithm.get_config(), f"{name}: config does not round-trip"
    model = model_for(name, confident=False)
    model.backbone.layers[-1].kernel.assign(
        np.random.default_rng(0).normal(size=model.backbone.layers[-1].kernel.shape))
    x, _ = batch()
    model(x, training=False)
    path = Path(folder) / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.algorithm.get_config() == model.algorithm.get_config()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.predict(x["weak"], verbose=0)),
                               keras.ops.convert_to_numpy(model.predict(x["weak"], verbose=0)),
                               rtol=1e-6)


def check_fit_runs_under_xla(name: str) -> None:
    from fewlabels.ssl_model import SemiSupervisedModel

    x, y = batch()
    model = SemiSupervisedModel(student(confident=True), create(name), 8)
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=True)
    for _ in range(2):
        logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"]), f"{name}: the XLA-compiled step gave {logs['loss']}"


def check_fit_is_seeded(name: str) -> None:
    from fewlabels.ssl_data import ssl_stream
    from fewlabels.ssl_model import SemiSupervisedModel
    from fewlabels.views.augment import build_policy

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (40, *SHAPE)).astype("float32")
    y = np.where(np.arange(40) < 8, np.arange(40) % N_CLASSES, -1)
    losses = []
    for _ in range(2):
        keras.utils.set_random_seed(1)
        stream, n_unlabeled = ssl_stream(x, y, batch_size=4, uratio=2,
                                         weak=build_policy("weak", seed=0),
                                         strong=build_policy("strong", seed=1), seed=0)
        model = SemiSupervisedModel(student(confident=False, seed=1), create(name), n_unlabeled)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        history = model.fit(stream, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
        losses.append(history.history["loss"][-1])
    assert np.isfinite(losses[0]), f"{name}: fit gave a loss of {losses[0]}"
    assert losses[0] == losses[1], f"{name}: the same seed gave losses {losses}"


LEARNS_STEPS = 40
LEARNS_ABOVE = 0.5
"""`check_learns_at_its_defaults`: a fit of this many steps must score above this on digits
(10 classes: chance is 0.1); FixMatch scores about 0.65, a supervised fit about 0.78."""


def check_learns_at_its_defaults(name: str) -> None:
    """At its default hyperparameters, the algorithm learns in a few dozen steps: the 8x8
    digits with 5 labels a class, the default CNN, `LEARNS_STEPS` steps, test accuracy above
    `LEARNS_ABOVE`. (A run that starts with every pseudo-label in at full weight collapses
    onto one class here, as FlexMatch, FreeMatch and SoftMatch once did.) An algorithm that
    learns from a teacher's targets has nothing to learn from alone, and passes."""
    import warnings

    from fewlabels import Budget, ConsistencyTraining
    from fewlabels.data import hide_labels, load_images

    if get(name).needs_targets:
        return
    data = load_images("digits")
    y, _ = hide_labels(data.y, 5, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collapse warnings: the accuracy says it
        model = ConsistencyTraining(method=name, budget=Budget(LEARNS_STEPS), seed=0).fit(
            data.x, y)
    accuracy = model.evaluate(data.x_test, data.y_test)["accuracy"]
    assert accuracy > LEARNS_ABOVE, (
        f"{name} at its defaults scores {accuracy:.3f} after {LEARNS_STEPS} steps on digits "
        f"(chance 0.1; needed > {LEARNS_ABOVE})")


CHECKS: dict[str, Callable[[str], None]] = {
    "the loss is finite on random data": check_finite_loss,
    "the unsupervised gradient is there when the mask is on and zero when off":
        check_gradient_follows_the_mask,
    "training steps compile and run under XLA": check_fit_runs_under_xla,
    "an algorithm reading the weak view as targets takes no gradient through it":
        check_weak_is_target_is_honest,
    "zero unlabeled weight gives the supervised update": check_zero_weight_is_supervised,
    "one fit step runs and the same seed gives the same loss": check_fit_is_seeded,
    "it learns at its defaults in a few dozen steps": check_learns_at_its_defaults,
}
"""Every check taking an algorithm's name (`check_config_and_saving` also takes a folder)."""
