"""Your own Keras network inside fewlabels: checked at the start, fresh at every stage.

`SelfTraining(model=...)` and `ConsistencyTraining(model=...)` take a `keras.Model` (cloned,
with fresh weights, for each training stage) or a function `(input_shape, n_classes) ->
keras.Model`. Before any training it must take one input of the data's shape, give one
probability per class (a softmax output), and save as a `.keras` file that loads under
Keras's `safe_mode` and fewlabels' inspection: otherwise the run could not write or reload
its model, and that is said at once, not after training.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from fewlabels.errors import InputError


def build_custom(model, input_shape: tuple, n_classes: int):
    """A fresh network from the user's `model` (a `keras.Model` or a building function).

    Args:
        model: a `keras.Model` (cloned with new weights), the path of one saved as a
            `.keras` file (inspected and loaded in safe mode, then cloned the same way) or
            a function `(input_shape, n_classes) -> keras.Model`.
        input_shape: one example's shape.
        n_classes: the number of classes.

    Returns:
        The network, checked: one input of `input_shape`, `n_classes` probabilities out,
        and safe to save and reload.
    """
    import keras

    if isinstance(model, str):  # a .keras file: inspected, then read in safe mode
        from fewlabels.model_files import check_model_file

        check_model_file(Path(model))
        try:
            model = keras.saving.load_model(model, compile=False, safe_mode=True)
        except Exception as err:  # Keras raises many types; one clear message
            raise InputError(f"{model}: could not load the model safely: {err}") from err
    if isinstance(model, keras.Model):
        _check_saves_safely(model)  # first: cloning deserializes, which safe mode may refuse
        try:
            built = keras.models.clone_model(model)
        except Exception as err:  # subclassed models cannot always be cloned
            raise InputError(f"cannot clone {type(model).__name__} for a fresh training "
                             f"stage ({err}); pass a function (input_shape, n_classes) -> "
                             "keras.Model instead.") from err
    else:
        built = model(tuple(int(d) for d in input_shape), n_classes)
        if not isinstance(built, keras.Model):
            raise InputError(f"the model function returned a {type(built).__name__}, not a "
                             "keras.Model.")
    _check_shapes(built, tuple(input_shape), n_classes)
    _check_saves_safely(built)
    return built


def _check_shapes(model, input_shape: tuple, n_classes: int) -> None:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InputError(f"your model has {len(model.inputs)} inputs and {len(model.outputs)} "
                         "outputs; fewlabels needs one of each.")
    expected = tuple(model.input_shape[1:])
    if len(expected) != len(input_shape) or any(
            e is not None and e != d for e, d in zip(expected, input_shape, strict=True)):
        raise InputError(f"your model takes inputs of shape {expected}, but the data's are "
                         f"{input_shape}.")
    if model.output_shape[-1] != n_classes:
        raise InputError(f"your model has {model.output_shape[-1]} outputs, but the data has "
                         f"{n_classes} classes.")
    probe = np.zeros((2, *input_shape), dtype=np.float32)
    out = np.asarray(model(probe, training=False))
    if np.any(out < -1e-6) or not np.allclose(out.sum(axis=-1), 1.0, atol=1e-3):
        raise InputError("your model's outputs are not probabilities: end it with a softmax "
                         "(activation='softmax' on its last layer).")


def _check_saves_safely(model) -> None:
    from fewlabels.model_files import check_model_file

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "model.keras"
        try:
            model.save(path)
        except Exception as err:
            raise InputError(f"your model cannot be saved as a .keras file ({err}); fewlabels "
                             "saves every run's model.") from err
        try:
            check_model_file(path)
        except InputError as err:
            raise InputError(f"your model could not be reloaded safely: {err}") from err
