"""Distill: a student learns the unlabeled images from a teacher's stored predictions.

The student stage of the teacher-student recipe (`fewlabels.TeacherStudent`; Noisy Student,
Xie et al., CVPR 2020, and the self-training this project started from). A trained teacher
labels the whole unlabeled pool once, in inference mode; `set_targets` stores its class
probabilities, one row per unlabeled image, in the algorithm's state. Each step the student
passes one augmented view of each unlabeled image (the `strong` slot of the stream: the
strong policy by default) and is trained towards the stored row of that image, with the
labeled batch beside it. There is no weak-view pass: a step passes `B + uratio * B` images,
where FixMatch's passes `B + 2 * uratio * B`.

A row of zeros is an image the teacher left out (its mask is off). `threshold` leaves out
rows whose top probability is lower; `soft=False` trains towards the top class only;
`temperature` below 1 sharpens soft targets. `consistency > 0` keeps FixMatch's term beside
the teacher's: the student's own confident weak-view predictions (at 0.95) also train its
strong view, at that weight; the step then passes the weak view too.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from fewlabels import targets
from fewlabels.algorithms.base import Algorithm, ConformanceCase, masked_cross_entropy
from fewlabels.algorithms.registry import register
from fewlabels.errors import InputError


def _confident_teacher(algorithm) -> None:
    """A teacher that put 0.97 on class 1 for every unlabeled image (where the suite's
    student puts 0.97 on class 0, so that there is something to learn)."""
    rows = np.full(algorithm.teacher_targets.shape, 0.01, "float32")
    rows[:, 1] = 1.0 - 0.01 * (rows.shape[1] - 1)
    algorithm.teacher_targets.assign(rows)


@register
class Distill(Algorithm):
    """A teacher's stored class probabilities as the targets of the unlabeled images.

    Args:
        threshold: rows whose top teacher probability is below it are left out.
        soft: train towards the teacher's whole distribution (True) or its top class.
        temperature: sharpens soft targets (`p ** (1 / T)`, renormalized); 1 leaves them.
        consistency: the weight of a FixMatch term on the student's own weak-view
            pseudo-labels (0: none, and no weak-view pass).
        lambda_u: the weight of the unlabeled term.
        warmup_steps: linear ramp-up of that weight.
    """

    registry_name = "distill"
    summary = ("a teacher's stored predictions are the targets of one augmented view "
               "(the student stage of teacher-student; Noisy Student 2020)")
    conformance = ConformanceCase(mask_on=_confident_teacher)
    uses_weak = False
    needs_weak_view = False
    needs_targets = True
    weak_is_target = True  # the consistency term reads the weak view through stop_gradient
    FIXMATCH_THRESHOLD = 0.95

    def __init__(self, threshold: float = 0.0, soft: bool = True, temperature: float = 1.0,
                 consistency: float = 0.0, lambda_u: float = 1.0, warmup_steps: int = 0,
                 **kwargs) -> None:
        super().__init__(lambda_u=lambda_u, warmup_steps=warmup_steps, **kwargs)
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1]; got {threshold!r}.")
        if not temperature > 0:
            raise InputError(f"temperature must be > 0; got {temperature!r}.")
        self.threshold = float(threshold)
        self.soft = bool(soft)
        self.temperature = float(temperature)
        if not consistency >= 0:
            raise InputError(f"consistency must be >= 0; got {consistency!r}.")
        self.consistency = float(consistency)
        # with a consistency term the step needs the weak view (the class default: none)
        self.uses_weak = self.needs_weak_view = self.consistency > 0
        self.teacher_targets = None

    def build_state(self, n_classes, n_unlabeled, student) -> None:
        super().build_state(n_classes, n_unlabeled, student)
        self.teacher_targets = self.add_state("teacher_targets",
                                              (max(n_unlabeled, 1), n_classes), 0.0)

    def set_targets(self, proba) -> None:
        """Store the teacher's `(n_unlabeled, n_classes)` probabilities (zero rows: left out)."""
        proba = np.asarray(proba, dtype="float32")
        if proba.shape != tuple(self.teacher_targets.shape):
            raise InputError(f"the teacher's targets have shape {proba.shape}; the pool needs "
                             f"{tuple(self.teacher_targets.shape)} (one row per unlabeled "
                             "image, one column per class).")
        if not np.all(np.isfinite(proba)) or np.any(proba < 0):
            raise InputError("the teacher's targets must be finite probabilities >= 0.")
        self.teacher_targets.assign(proba)

    def unsupervised(self, weak, strong, batch, student) -> dict:
        index = ops.cast(batch["index"], "int32")
        teacher = ops.take(self.teacher_targets, index, axis=0)
        confidence = ops.max(teacher, axis=-1)
        mask = ops.cast(confidence > 0, strong.dtype) * targets.confidence_mask(
            teacher, self.threshold)
        if not self.soft:
            target = targets.hard_targets(teacher)
        elif self.temperature != 1.0:
            target = targets.soft_targets(teacher + 1e-12, self.temperature)
        else:
            target = ops.stop_gradient(teacher)
        loss = masked_cross_entropy(target, strong, mask)
        if self.consistency > 0:
            own = targets.confidence_mask(weak, self.FIXMATCH_THRESHOLD)
            loss = loss + self.consistency * masked_cross_entropy(
                targets.hard_targets(weak), strong, own)
        return {"loss": loss, "mask": mask, "pseudo_labels": ops.argmax(teacher, axis=-1)}

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold, "soft": self.soft,
                "temperature": self.temperature, "consistency": self.consistency}



def check_teacher_targets(algorithm, targets, n_unlabeled: int, n_classes: int, *,
                          streamed: bool = False) -> None:
    """A teacher's targets are given exactly when `algorithm` learns from them, one row per
    unlabeled row in memory and one column per class (else an `InputError` saying so)."""
    name = algorithm.registry_name
    if not algorithm.needs_targets:
        if targets is not None:
            raise InputError(f"unlabeled_targets are for algorithms that learn from a "
                             f"teacher ('distill'); {name!r} makes its own targets.")
        return
    if targets is None:
        raise InputError(f"{name!r} learns from a teacher's predictions: use "
                         "fewlabels.TeacherStudent (--method teacher-student), or pass "
                         "unlabeled_targets.")
    if streamed:
        raise InputError(f"{name!r} needs the unlabeled images in memory, with a target "
                         "each; it cannot read them from streamed files.")
    shape = np.shape(targets)
    if shape != (n_unlabeled, n_classes):
        raise InputError(f"unlabeled_targets has shape {shape}; expected ({n_unlabeled}, "
                         f"{n_classes}): one row per unlabeled row of X, one column per "
                         "class.")
