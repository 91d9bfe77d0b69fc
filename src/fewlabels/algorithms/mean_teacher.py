"""Mean Teacher (Tarvainen & Valpola, NeurIPS 2017): an EMA teacher's predictions as targets.

The teacher is an exponential moving average of the student's weights (momentum 0.999,
section 3), updated inside the compiled training step. The student is trained to match the
teacher's prediction (mean squared error between probabilities) on another augmentation of
the same image: here the teacher sees the weak view in inference mode and the student the
strong view. The target goes through `stop_gradient`; the student's side carries the gradient.
That is the point of the conformance check "the unsupervised term has a gradient": a Mean
Teacher whose consistency term has none is a known bug of a reference toolkit (USB #102).
The paper ramps the consistency weight up with a sigmoid over the first steps;
`warmup_steps` ramps it linearly, by default over 500 steps: with the full weight from the
first step, a random teacher's targets dominate and the student collapses onto one or two
classes (seen on digits). `lambda_u` defaults to 50, as in USB's configs for MSE on
probabilities (the paper uses 10 to 100 depending on the dataset).
"""

from __future__ import annotations

import keras
from keras import ops

from fewlabels.algorithms.base import Algorithm
from fewlabels.algorithms.registry import register


@register
class MeanTeacher(Algorithm):
    """Mean Teacher.

    Args:
        lambda_u: the consistency weight.
        warmup_steps: linear ramp-up of the consistency weight.
        teacher_momentum: the teacher's EMA momentum.
    """

    name_ = "meanteacher"
    summary = "an EMA teacher's weak-view predictions are the strong view's targets (2017)"
    has_mask = False
    uses_weak = False  # the teacher sees the weak view; the student only the strong one

    def __init__(self, lambda_u: float = 50.0, warmup_steps: int = 500,
                 teacher_momentum: float = 0.999, **kwargs) -> None:
        super().__init__(lambda_u=lambda_u, warmup_steps=warmup_steps, **kwargs)
        self.teacher_momentum = float(teacher_momentum)
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

    def after_step(self, student) -> None:
        m = self.teacher_momentum
        for t, s in zip(self.teacher.weights, student.weights, strict=True):
            t.assign(m * t + (1.0 - m) * ops.cast(s, t.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "teacher_momentum": self.teacher_momentum}
