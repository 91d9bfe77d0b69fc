"""Teacher, then student: consistency training labels the pool once; a fresh network learns it.

`TeacherStudent(teacher=ConsistencyTraining(method="fixmatch", steps=6000))` splits the
teacher's steps between stages, each one a `ConsistencyTraining` fit with the teacher's
network, views, batch and optimizer settings:

1. **Teacher.** The consistency algorithm (the teacher's `method`) trains for `teacher_share`
   of the steps.
   Its weight average is the teacher, with BatchNorm statistics re-estimated for those
   weights on clean images (`reestimate_bn`).
2. **Labelling.** The teacher labels every unlabeled image once, in inference mode, averaged
   with the mirror image where the weak view flips (`flip`): class probabilities, of which
   `targets="hard"` keeps the top class and `target_threshold` the confident rows.
3. **Student.** A freshly initialized network trains with the `distill` algorithm: each step,
   a labeled batch and one augmented view (`student_view`) of `uratio * B` unlabeled images,
   trained towards the teacher's stored probabilities. No weak-view pass: a step passes
   `B + uratio * B` images, where FixMatch's passes `B + 2 * uratio * B`.
4. **Rounds.** With `rounds > 1`, each student labels the pool for the next one; the steps
   after the teacher's are shared equally between the students.

With a wall-clock budget (`Budget(seconds=...)`), the teacher gets `teacher_share` of it, and each
student what is left when it starts (after the teacher, the labelling and the earlier
students, its own timing included), shared with the students still to come: a stage that ran
long or short moves the next one's budget, so the recipe ends near its budget as a whole.

The final model is the last student, or with `ensemble=True` the average of its
probabilities and its teacher's. The validation split is made once, so every stage reports
on the same held-out labels. With a checkpoint policy, the run checkpoints as every fit
does (`fewlabels.training.stages`): one store, and a journal of the finished stages (their
fitted state and weights, their records, the seconds spent) in every checkpoint. A run
killed in any stage resumes inside it; the stages already finished are restored from the
journal rather than trained again.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from fewlabels import params as p
from fewlabels.errors import FewLabelsWarning, InputError
from fewlabels.estimators.base import Estimator
from fewlabels.estimators.composition import FlatParameters
from fewlabels.estimators.consistency import ConsistencyTraining
from fewlabels.estimators.recipe import (
    RecipeJournal,
    average_model,
    joined_history,
    labels_record,
    plan_steps,
    pool_selection,
    seconds_of,
    spent_s,
    stage_budget,
    stage_record,
)
from fewlabels.views.augment import POLICIES

if TYPE_CHECKING:
    from fewlabels.training.checkpoint import CheckpointPolicy

TARGETS = ("soft", "hard")


class _FlatParameters(FlatParameters):
    """Builds `TeacherStudent` from the flat parameters of earlier releases
    (`TeacherStudent(method="fixmatch", steps=6000)`): the `ConsistencyTraining` ones become
    its `teacher`, with a `FutureWarning` that shows the new form. The constructor itself
    takes only its own parameters, as scikit-learn requires."""

    def __call__(cls, *args, **params):  # noqa: N805 - a metaclass method
        own = set(cls._get_param_names())
        flat = {k: v for k, v in params.items() if k not in own}
        teachers = {*ConsistencyTraining._get_param_names(), *ConsistencyTraining.flat_names()}
        if flat and set(flat) <= teachers:
            teacher = params.pop("teacher", None)
            for name in flat:
                params.pop(name)
            params["teacher"] = ConsistencyTraining.like(teacher or ConsistencyTraining(),
                                                         **flat)
            names = ", ".join(f"{k}=..." for k in flat)
            warnings.warn(
                f"TeacherStudent({names}) is now TeacherStudent(teacher="
                f"{ConsistencyTraining.new_form(flat)}); the flat form will be removed in a "
                "future release.", FutureWarning, stacklevel=2)
        return super().__call__(*args, **params)


class TeacherStudent(Estimator, metaclass=_FlatParameters):
    """Consistency training as the teacher, then fresh students trained on its labels.

    Args:
        teacher: a `ConsistencyTraining` (default: `ConsistencyTraining()`, FixMatch). Its
            `method` and `algorithm_params` are the teacher's algorithm; its other settings
            (network, views, batch, optimizer, seed, ...) are every stage's; its `budget`
            (steps, or seconds of wall clock) is the whole recipe's, which `teacher_share`
            splits between the teacher and the students.
        teacher_share: the teacher's share of the budget's steps (`plan_steps`) or seconds.
        rounds: students trained one after the other, each labelling the pool for the next.
        targets: `"hard"`: the teacher's top class; `"soft"`: its class probabilities.
        target_threshold: unlabeled images whose top teacher probability is lower are left
            out (0 keeps every image).
        class_balance: share the kept images among classes by the labeled prior, as
            self-training does (`selection.balance_by_prior`): `target_threshold` sets how
            many images are kept, and each class keeps its share of its most confident
            ones, so a class the teacher over-predicts is capped and one it is unsure of
            keeps images below the threshold.
        target_temperature: sharpens soft targets (`p ** (1 / T)`); 1 leaves them as they
            are.
        student_consistency: the weight of a FixMatch term on the student's own confident
            weak-view predictions, beside the teacher's targets (0: none; the step then also
            passes the weak view).
        student_view: the student's view of unlabeled images: an image policy (`"strong"`,
            `"weak"`, ...), or `"auto"` (the strong view; swap noise for rows).
        flip: label the pool with each image and its mirror image averaged: `"auto"` where
            the weak view flips images (the teacher's `augment_params` `horizontal_flip`,
            on by default).
        ensemble: the final model averages the last student's and its teacher's
            probabilities.

    Example:
    ```python
    from fewlabels import ConsistencyTraining, TeacherStudent

    teacher = ConsistencyTraining(method="fixmatch", steps=6000)
    model = TeacherStudent(teacher=teacher).fit(x_images, y_partial)
    model.stages_                     # per stage: steps, wall time, pseudo-label accuracy
    model.evaluate(x_test, y_test, stage="teacher")["accuracy"]
    ```
    """

    _parameter_constraints: ClassVar[dict] = {
        "teacher": p.optional(p.instance_of(ConsistencyTraining)),
        "teacher_share": p.interval(float, 0.0, 1.0, "neither"),
        "rounds": p.interval(int, 1, None),
        "targets": p.one_of(*TARGETS),
        "target_threshold": p.interval(float, 0.0, 1.0),
        "class_balance": p.boolean,
        "target_temperature": p.interval(float, 0.0, None, "neither"),
        "student_consistency": p.interval(float, 0.0, None),
        "student_view": p.one_of("auto", *POLICIES),
        "flip": p.one_of("auto", True, False),
        "ensemble": p.boolean,
    }

    def __init__(self, teacher: ConsistencyTraining | None = None, *, teacher_share: float = 0.5,
                 rounds: int = 1, targets: str = "hard", target_threshold: float = 0.8,
                 class_balance: bool = False, target_temperature: float = 1.0,
                 student_consistency: float = 0.0, student_view: str = "auto",
                 flip: str | bool = "auto", ensemble: bool = False) -> None:
        self.teacher = teacher
        self.teacher_share = teacher_share
        self.rounds = rounds
        self.targets = targets
        self.target_threshold = target_threshold
        self.class_balance = class_balance
        self.target_temperature = target_temperature
        self.student_consistency = student_consistency
        self.student_view = student_view
        self.flip = flip
        self.ensemble = ensemble

    def _teacher(self) -> ConsistencyTraining:
        """The teacher's settings (the default `ConsistencyTraining()` when None)."""
        return ConsistencyTraining() if self.teacher is None else self.teacher

    def _augmentation(self) -> dict:
        return self._teacher()._augmentation()

    # -- the method it serves, and what a run reports -----------------------------------------

    report_name = "teacher-student"
    summaries: ClassVar[dict[str, str]] = {
        "teacher-student": "a consistency algorithm teaches (--teacher, default fixmatch), "
                           "labels the pool once, and a fresh network learns its labels"}


    @classmethod
    def for_method(cls, method: str, **params) -> TeacherStudent:
        """Its own options go to it; `teacher=` names the consistency algorithm that teaches
        (default FixMatch), and the other options go to that `ConsistencyTraining`."""
        algorithm = params.pop("teacher", "fixmatch")
        teachers = ConsistencyTraining.method_names()
        if algorithm not in teachers:
            raise InputError(f"teacher must be a consistency algorithm, one of {teachers}; "
                             f"got {algorithm!r}.")
        own = {k: params.pop(k) for k in list(params) if k in cls._get_param_names()}
        return cls(teacher=ConsistencyTraining.for_method(algorithm, **params), **own)

    @classmethod
    def option_classes(cls) -> list[type[Estimator]]:
        return [cls, ConsistencyTraining]

    @classmethod
    def options_of(cls, params: dict) -> dict:
        """Flat options from a `config.json`'s params: the teacher's, its `method` as
        `teacher`, and its own (a run of an earlier release recorded them flat)."""
        params = dict(params)
        nested = params.pop("teacher", None)
        if isinstance(nested, dict):
            params.update(ConsistencyTraining.options_of(nested.get("params") or {}))
        if "method" in params:
            params["teacher"] = params.pop("method")
        return params

    @classmethod
    def from_params_json(cls, params: dict) -> TeacherStudent:
        options = cls.options_of(params)
        algorithm = options.pop("teacher", "fixmatch")
        own = {k: options.pop(k) for k in list(options) if k in cls._get_param_names()}
        teacher = ConsistencyTraining.from_params_json({**options, "method": algorithm})
        return cls(teacher=teacher, **own)

    def params_json(self) -> dict:
        out = super().params_json()
        out["teacher"] = {"estimator": "ConsistencyTraining",
                          "params": self._teacher().params_json()}
        return out

    def split_seed(self) -> int:
        return self._teacher().seed

    def set_verbose(self, verbose: int) -> None:
        self.teacher = ConsistencyTraining.like(self._teacher(), verbose=verbose)

    def supervised_baseline(self) -> ConsistencyTraining:
        return self._teacher().supervised_baseline()

    def method_name(self) -> str:
        return self.report_name

    def budget_words(self) -> str:
        plan = getattr(self, "steps_plan_", None)
        students = ", ".join(map(str, plan[1:])) if plan else ""
        split = "" if plan is None else f" (teacher {plan[0]}, students {students})"
        return f"budget: {self._teacher()._spec('budget').steps} steps{split}"

    def result_stages(self) -> list[tuple[str, str]]:
        teacher = [(f"  teacher ({self._teacher().method})", "teacher")] \
            if hasattr(self, "teacher_") else []
        return [*teacher, ("teacher-student", "final")]

    def run_summary(self) -> dict:
        labelled = [s["labels"]["kept"] for s in getattr(self, "stages_", []) if "labels" in s]
        return {"labeled": self.n_train_labeled_,
                "pseudo_labeled": labelled[-1] if labelled else 0,
                "epochs": len(self.history_.get("loss", [])), "wall_s": self.wall_s_,
                "steps": self.steps_plan_}

    def history_record(self) -> dict:
        return {"estimator": "TeacherStudent", "teacher": self._teacher().method,
                "algorithm": self.algorithm_, "steps": self.n_steps_,
                "steps_plan": self.steps_plan_, "stages": self.stages_,
                "epochs": self.history_, "warnings": self.warnings_}

    def fit(self, X, y, *, classes: Sequence | None = None, validation_data: tuple | None = None,
            y_hidden=None, checkpoint: CheckpointPolicy | None = None,
            unlabeled_files=None, unlabeled_targets=None) -> TeacherStudent:
        """Train the teacher, label the pool, train the students.

        Args:
            X, y, classes, validation_data, y_hidden, checkpoint: as
                `ConsistencyTraining.fit` takes them.
            unlabeled_files, unlabeled_targets: not supported (the students need every
                unlabeled image in memory, with the teacher's target).

        Returns:
            `self`, fitted: `teacher_` (the fitted teacher stage), `students_`, and
            `stages_`, one record per stage (its role, algorithm, steps, wall time,
            validation accuracy and, with hidden labels, the accuracy of the labels it
            gave the pool).
        """
        p.validate_params(self)
        settings = self._teacher()
        settings._validate()
        budget = settings._spec("budget")
        if unlabeled_files is not None or unlabeled_targets is not None:
            raise InputError("TeacherStudent keeps the unlabeled images in memory and makes "
                             "its own targets: pass neither unlabeled_files nor "
                             "unlabeled_targets.")
        from fewlabels.algorithms import get

        teacher_class = get(settings.method)  # an unknown name: the registry's own message
        if teacher_class.needs_targets or not teacher_class.has_unsupervised_term:
            raise InputError(f"the teacher's method is its consistency algorithm; got "
                             f"{settings.method!r}.")
        _, X, y, classes, y_hidden = settings._check_data(X, y, classes, y_hidden, None)
        images = X.ndim >= 3
        X, y, y_hidden, validation = settings._split_validation(
            X, y, y_hidden, validation_data, images, len(classes))
        pool = np.flatnonzero(y < 0)
        rounds = self.rounds if len(pool) else 0
        if not rounds:  # as scikit-learn's self-training: fit on the labels alone
            warnings.warn("no unlabeled rows: TeacherStudent trains its teacher alone, on "
                          "the labels, and no student.", FewLabelsWarning, stacklevel=2)
        plan = (plan_steps(budget.steps, self.teacher_share, rounds, budget.steps_per_epoch)
                if rounds else [budget.steps])
        common = {"X": X, "y": y, "classes": classes, "validation_data": validation,
                  "y_hidden": y_hidden}
        stages = self._checkpoints(checkpoint, X, y, classes)
        journal = stages.journal
        self.stages_ = journal.records  # (restored with the journal when the run resumes)
        if journal.finished:
            teacher = self._restored(0, plan, common, journal)
        else:
            budget_s = budget.seconds
            share = self.teacher_share if rounds else 1.0
            resumed = stages.resuming
            teacher = self._stage(0, plan[0], None if budget_s is None else budget_s * share
                                  ).fit(**common, checkpoint=stages)
            journal.finish(teacher, stage_record("teacher", teacher, validation),
                           spent_s(teacher, resumed))
        students = self._students(teacher, common, pool=pool, plan=plan, stages=stages)
        previous = ([teacher, *students])[-2] if students else teacher
        self._fitted(teacher, students, previous, classes, X)
        return self

    def _checkpoints(self, policy, X, y, classes):
        """The run's checkpoints: one store and one journal for every stage
        (`fewlabels.training.stages`); each stage adds its own fingerprint."""
        from fewlabels.training.checkpoint import array_fingerprint
        from fewlabels.training.stages import StageCheckpoints

        settings = self.params_json()
        settings["teacher"]["params"] = self._teacher()._settings()
        return StageCheckpoints(policy, RecipeJournal(), {
            "estimator": type(self).__name__, "classes": [str(c) for c in classes],
            "params": settings, "data": array_fingerprint(X, y)})

    def _restored(self, r: int, plan: list[int], common: dict,
                  journal: RecipeJournal) -> ConsistencyTraining:
        """Stage `r`, finished before the run was stopped, as the journal kept it."""
        state, weights = journal.finished[r]
        state = dict(state)
        stage = self._stage(r, plan[r], state.pop("seconds"))
        return stage.restore_fitted(state, weights, common["X"], common["classes"])

    def _students(self, teacher, common: dict, *, pool, plan: list[int],
                  stages) -> list[ConsistencyTraining]:
        """Label the pool with the last stage and train the next student on it, `rounds`
        times (none without a pool); each student gets what is left of a wall-clock
        budget, shared with those still to come. Students the journal has finished are
        restored, not trained again."""
        from fewlabels.training.labelling import predict_views

        journal = stages.journal
        X, y, y_hidden, validation = (common[k] for k in ("X", "y", "y_hidden",
                                                           "validation_data"))
        hidden = None if y_hidden is None else y_hidden[pool]
        flip = self._flips(X.ndim >= 3)
        n_classes = len(common["classes"])
        prior = (np.bincount(y[y >= 0], minlength=n_classes) / np.sum(y >= 0)
                 if self.class_balance else None)
        budget_s = self._teacher()._spec("budget").seconds
        current, students = teacher, []
        for r in range(1, len(plan)):
            if r < len(journal.finished):
                current = self._restored(r, plan, common, journal)
                students.append(current)
                continue
            start = time.perf_counter()
            proba = predict_views(current.model_, X[pool], flip=flip)
            kept = pool_selection(proba, self.target_threshold, prior)
            targets = proba
            if self.class_balance:  # the students learn the selected rows only
                targets = np.zeros_like(proba)
                targets[kept] = proba[kept]
            resumed = stages.resuming  # inside this student: the journal has its labelling
            if not resumed:
                labelling_s = time.perf_counter() - start
                journal.spent += labelling_s
                self.stages_[-1].update(labels=labels_record(proba, hidden, kept),
                                        labelling_s=round(labelling_s, 3))
            journal.stage = f"stage_{r}"
            budget = (None if budget_s is None else
                      stage_budget(budget_s, journal.spent, len(plan) - r))
            student = self._stage(r, plan[r], budget).fit(
                **common, checkpoint=stages, unlabeled_targets=targets)
            journal.finish(student, stage_record(f"student {r}", student, validation),
                           spent_s(student, resumed))
            students.append(student)
            current = student
        return students

    def _stage(self, r: int, steps: int, budget_s: float | None) -> ConsistencyTraining:
        """The unfitted `ConsistencyTraining` of stage `r` (0: the teacher): its steps, or
        its wall-clock budget."""
        settings = {"steps": steps, "validation_fraction": 0.0, "budget_s": budget_s}
        if r == 0:
            return ConsistencyTraining.like(self._teacher(), **settings)
        threshold = 0.0 if self.class_balance else self.target_threshold  # already selected
        algorithm = {"soft": self.targets == "soft", "threshold": threshold,
                     "temperature": self.target_temperature,
                     "consistency": self.student_consistency}
        settings.update(method="distill", algorithm_params=algorithm,
                        strong=self.student_view, seed=self._teacher().seed + r)
        return _StudentStage.like(self._teacher(), **settings)

    def _flips(self, images: bool) -> bool:
        if not images or self.flip is False:
            return False
        allowed = self._augmentation().get("horizontal_flip", True)
        if self.flip is True and not allowed:
            raise InputError("flip=True mirrors images, but augment_params turns "
                             "horizontal_flip off (digits and text): use flip='auto'.")
        return bool(allowed)

    def _fitted(self, teacher, students, previous, classes, X) -> None:
        last = students[-1] if students else teacher
        self.teacher_ = teacher
        self.students_ = students
        self.model_ = (average_model([previous.model_, last.model_])
                       if self.ensemble and students else last.model_)
        self._set_data_shape(X.shape[1:], classes)
        self.network_ = teacher.network_
        self.algorithm_ = {"teacher": teacher.algorithm_, "student": last.algorithm_}
        stages = [teacher, *students]
        self.history_ = joined_history([s.history_ for s in stages])
        self.warnings_ = [w for s in stages for w in s.warnings_]
        offsets = np.cumsum([0.0, *(s.wall_s_ for s in stages)])
        self.epoch_wall_s_ = [round(float(t + offsets[i]), 3) for i, s in enumerate(stages)
                              for t in s.epoch_wall_s_]
        self.wall_s_ = round(float(offsets[-1]), 3)
        self.n_steps_ = int(sum(s.n_steps_ for s in stages))
        self.steps_plan_ = [s.n_steps_ for s in stages]
        self.budget_plan_s_ = (None if seconds_of(self._teacher()) is None else
                               [round(seconds_of(s), 3) for s in stages])
        self.n_train_labeled_ = teacher.n_train_labeled_
        self.n_unlabeled_ = teacher.n_unlabeled_

    def _model_for(self, stage: str):
        """`"final"`, or `"teacher"`: the teacher stage's model."""
        if stage == "teacher":
            if not hasattr(self, "teacher_"):
                raise InputError("stage='teacher' needs this fit's teacher (a loaded model "
                                 "keeps only the final one).")
            return self.teacher_.model_
        if stage != "final":
            raise InputError(f"stage must be 'final' or 'teacher'; got {stage!r}.")
        return self.model_

    def training_views(self, X: np.ndarray) -> list[tuple[str, object]]:
        """The teacher's weak and strong views, and the student's view (images)."""
        views = self._teacher().training_views(X)
        if not views:
            return views
        if self.student_view not in ("auto", "strong"):
            student = self._stage(1, 1, None)._views(True, X)[1]
            views.append(("student view", student))
        return views


class _StudentStage(ConsistencyTraining):
    """A student's `ConsistencyTraining`: its timing epochs are spent from its budget, which
    is what the teacher, the labelling and the earlier students left of the recipe's."""

    _timing_in_budget = True
