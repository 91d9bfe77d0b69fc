"""Mean Teacher (Tarvainen & Valpola, NeurIPS 2017): an EMA teacher's predictions as targets.

The teacher is an exponential moving average of the student's weights (momentum 0.999, section
3), updated inside the compiled training step. Its momentum warms up (`warmed_up_momentum`) so
that it follows the student from the first steps instead of staying near its random initial
weights for thousands of steps. The pace is TensorFlow's `ExponentialMovingAverage` rule
(`teacher_warmup=9`), which tracks the recent weights; the authors' code uses the plain mean
of every weight so far (`teacher_warmup=1`), which in a run of a few hundred steps still
carries the random start: the student, pulled toward it, collapsed (digits, 300 steps: 0.12
against 0.80). The student is trained to match the teacher's prediction (mean squared error
between probabilities) on another augmentation of the same image: the teacher sees one weak
view in inference mode and the student another, as in the paper (both views are the usual
flips and shifts, each drawn anew); with RandAugment for the student, BatchNorm's statistics
come mostly from strong views and the labeled images learn slowly (digits, 40 steps: 0.20
against 0.75; docs/consistency.md). The
target goes through `stop_gradient`; the student's side carries the gradient. That is the point
of the conformance check "the unsupervised term has a gradient": a Mean Teacher whose
consistency term has none is a known bug of a reference toolkit (USB #102). The paper ramps the
consistency weight up with a sigmoid over the first steps; `warmup_steps` ramps it linearly, by
default over 500 steps: with the full weight from the first step, a random teacher's targets
dominate and the student collapses onto one or two classes (seen on digits). `lambda_u` defaults
to 50, as in USB's configs for MSE on probabilities (the paper uses 10 to 100 depending on the
dataset).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fewlabels.algorithms.base import Algorithm, ConformanceCase, ema_assign, warmed_up_momentum
from fewlabels.algorithms.registry import register
from fewlabels.errors import InputError


def _teacher_disagrees(algorithm) -> None:
    """A teacher that predicts uniformly, so a confident student has something to learn."""
    last = algorithm.teacher.layers[-1]
    last.bias.assign(np.zeros(last.bias.shape, "float32"))


@register
class MeanTeacher(Algorithm):
    """Mean Teacher.

    Args:
        lambda_u: the consistency weight.
        warmup_steps: linear ramp-up of the consistency weight.
        teacher_momentum: the teacher's EMA momentum.
        teacher_warmup: the pace of the momentum's warm-up (`warmed_up_momentum`): 9,
            TensorFlow's rule (the default); 1, the authors' (the plain mean so far); 0, none
            (the full momentum from the first step).
    """

    registry_name = "meanteacher"
    summary = "an EMA teacher's predictions on one weak view are another weak view's targets (2017)"
    conformance = ConformanceCase(mask_on=_teacher_disagrees, mask_off=None)
    has_mask = False
    uses_weak = False  # the teacher sees the weak view; the student only the second one
    strong_view = "weak"  # the second view is a weak one too (the paper's augmentation)

    def __init__(self, lambda_u: float = 50.0, warmup_steps: int = 500,
                 teacher_momentum: float = 0.999, teacher_warmup: float = 9.0,
                 **kwargs) -> None:
        super().__init__(lambda_u=lambda_u, warmup_steps=warmup_steps, **kwargs)
        if not 0.0 <= teacher_momentum < 1.0:
            raise InputError(
                f"teacher_momentum must be in [0, 1); got {teacher_momentum!r}.")
        if not teacher_warmup >= 0:
            raise InputError(f"teacher_warmup must be >= 0; got {teacher_warmup!r}.")
        self.teacher_momentum = float(teacher_momentum)
        self.teacher_warmup = float(teacher_warmup)
        self.teacher = None

    def build_state(self, n_classes, n_unlabeled, student) -> None:
        super().build_state(n_classes, n_unlabeled, student)
        teacher = keras.models.clone_model(student)
        teacher.set_weights(student.get_weights())
        teacher.trainable = False
        self.teacher = teacher

    def unsupervised(self, weak, strong, batch, student) -> dict:
        target = ops.stop_gradient(self.teacher(batch["weak"], training=False))
        loss = keras.losses.MeanSquaredError()(target, strong) * self.n_classes
        ones = ops.ones_like(strong[:, 0])
        return {"loss": loss, "mask": ones, "pseudo_labels": ops.argmax(target, axis=-1)}

    def after_step(self, student, step) -> None:
        momentum = warmed_up_momentum(self.teacher_momentum, step, self.teacher_warmup)
        for t, s in zip(self.teacher.weights, student.weights, strict=True):
            ema_assign(t, s, momentum)

    def get_config(self) -> dict:
        return {**super().get_config(), "teacher_momentum": self.teacher_momentum,
                "teacher_warmup": self.teacher_warmup}
