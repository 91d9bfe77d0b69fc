"""What a run reports about each kind of estimator: its name, baseline, rows and history.

These are the workflow's questions, not the estimators': each is a `functools.singledispatch`
function with one implementation per estimator class, so an estimator carries only its
parameters and fitted state.
"""

from __future__ import annotations

from functools import singledispatch
from pathlib import Path

import numpy as np

from fewlabels.estimators.base import Estimator
from fewlabels.estimators.consistency import ConsistencyTraining
from fewlabels.estimators.ensemble import TableEnsemble
from fewlabels.estimators.self_training import SelfTraining
from fewlabels.estimators.teacher_student import TeacherStudent


def _unknown(estimator: Estimator):
    raise TypeError(f"the workflow does not know how to report a {type(estimator).__name__}.")


@singledispatch
def method_name(estimator: Estimator) -> str:
    """The method's name in tables and `config.json`."""
    _unknown(estimator)


@method_name.register
def _(estimator: SelfTraining) -> str:
    return "supervised" if estimator.rounds == 0 else "self-training"


@method_name.register
def _(estimator: ConsistencyTraining) -> str:
    return estimator.method


@method_name.register
def _(estimator: TableEnsemble) -> str:
    return "table-ensemble"


@method_name.register
def _(estimator: TeacherStudent) -> str:
    return "teacher-student"


@singledispatch
def supervised_baseline(estimator: Estimator) -> Estimator:
    """The supervised-only estimator with the same model and budget (unfitted)."""
    _unknown(estimator)


@supervised_baseline.register
def _(estimator: SelfTraining) -> SelfTraining:
    budget = max(estimator.epochs, getattr(estimator, "epochs_run_", 0))
    return type(estimator).like(estimator, epochs=budget, rounds=0, finetune=False)


@supervised_baseline.register
def _(estimator: ConsistencyTraining) -> ConsistencyTraining:
    return type(estimator).like(estimator, method="supervised", algorithm_params=None)


@supervised_baseline.register
def _(estimator: TeacherStudent) -> ConsistencyTraining:
    return ConsistencyTraining.like(estimator, method="supervised", algorithm_params=None)


@supervised_baseline.register
def _(estimator: TableEnsemble) -> TableEnsemble:
    # The members that learn from labels alone (label spreading and FixMatch need the
    # unlabeled rows).
    inductive = [m for m in estimator.member_names() if m in ("linear", "kernel")] or ["linear"]
    return type(estimator)(**{**estimator.get_params(deep=False), "members": inductive,
                              "rounds": 0, "select": "average", "graph_features": "rows"})


@singledispatch
def budget(estimator: Estimator) -> str:
    """The training budget, in words."""
    _unknown(estimator)


@budget.register
def _(estimator: SelfTraining) -> str:
    return f"budget: {estimator.epochs} epochs"


@budget.register
def _(estimator: ConsistencyTraining) -> str:
    return f"budget: {estimator.steps} steps"


@budget.register
def _(estimator: TeacherStudent) -> str:
    plan = getattr(estimator, "steps_plan_", None)
    students = ", ".join(map(str, plan[1:])) if plan else ""
    split = "" if plan is None else f" (teacher {plan[0]}, students {students})"
    return f"budget: {estimator.steps} steps{split}"


@budget.register
def _(estimator: TableEnsemble) -> str:
    choice = getattr(estimator, "choice_", None)
    why = "" if not choice else f" ({choice['why']})"
    return f"members: {', '.join(estimator.member_names())}{why}"


@singledispatch
def result_stages(estimator: Estimator) -> list[tuple[str, str]]:
    """`(row name, evaluate stage)` for each model of the fit a run scores."""
    _unknown(estimator)


@result_stages.register
def _(estimator: SelfTraining) -> list[tuple[str, str]]:
    if estimator.rounds == 0:
        return [("supervised", "final")]
    stages = []
    if getattr(estimator, "pre_finetune_model_", None) is not None:
        stages.append(("self-training (before fine-tune)", "before_finetune"))
    return [*stages, ("self-training", "final")]


@result_stages.register
def _(estimator: ConsistencyTraining) -> list[tuple[str, str]]:
    return [(estimator.method, "final")]


@result_stages.register
def _(estimator: TeacherStudent) -> list[tuple[str, str]]:
    teacher = [(f"  teacher ({estimator.method})", "teacher")] if hasattr(
        estimator, "teacher_") else []
    return [*teacher, ("teacher-student", "final")]


@result_stages.register
def _(estimator: TableEnsemble) -> list[tuple[str, str]]:
    members = [(f"  {name} member", name) for name in estimator.member_names()]
    return [*(members if len(members) > 1 else []), ("table-ensemble", "final")]


@singledispatch
def run_summary(estimator: Estimator) -> dict:
    """Labeled and pseudo-labeled examples, epochs and training time of the fit."""
    _unknown(estimator)


@run_summary.register
def _(estimator: SelfTraining) -> dict:
    calibrated = [r["calibration"] for r in estimator.rounds_ if "calibration" in r]
    return {"labeled": estimator.n_train_labeled_,
            "pseudo_labeled": int(np.sum(estimator.labeled_iter_ > 0)),
            "epochs": estimator.epochs_run_,
            "wall_s": round(sum(s["wall_s"] for s in estimator.stages_), 3),
            # the last round's temperature, and its validation ECE before and after
            **({"calibration": calibrated[-1]} if calibrated else {})}


@run_summary.register
def _(estimator: ConsistencyTraining) -> dict:
    # The last epoch's mask rate times the pool: how many images currently pass the mask.
    mask = (estimator.history_.get("mask_rate") or [0.0])[-1]
    return {"labeled": estimator.n_train_labeled_,
            "pseudo_labeled": round(mask * estimator.n_unlabeled_),
            "epochs": len(estimator.history_.get("loss", [])), "wall_s": estimator.wall_s_}


@run_summary.register
def _(estimator: TeacherStudent) -> dict:
    labelled = [s["labels"]["kept"] for s in getattr(estimator, "stages_", []) if "labels" in s]
    return {"labeled": estimator.n_train_labeled_,
            "pseudo_labeled": labelled[-1] if labelled else 0,
            "epochs": len(estimator.history_.get("loss", [])), "wall_s": estimator.wall_s_,
            "steps": estimator.steps_plan_}


@run_summary.register
def _(estimator: TableEnsemble) -> dict:
    calibrated = getattr(estimator, "calibration_", None)  # (None on a loaded model)
    return {"labeled": estimator.n_train_labeled_,
            "pseudo_labeled": int(np.sum(estimator.labeled_iter_ > 0)),
            "rounds": estimator.n_iter_, "wall_s": estimator.wall_s_,
            **({"calibration": calibrated} if calibrated else {}),
            **({"choice": estimator.choice_} if getattr(estimator, "choice_", None) else {})}


@singledispatch
def history_record(estimator: Estimator) -> dict:
    """What `history.json` keeps of the fit."""
    _unknown(estimator)


@history_record.register
def _(estimator: SelfTraining) -> dict:
    return {"estimator": "SelfTraining", "n_iter": estimator.n_iter_,
            "termination_condition": estimator.termination_condition_,
            "rounds": estimator.rounds_, "stages": estimator.stages_}


@history_record.register
def _(estimator: ConsistencyTraining) -> dict:
    return {"estimator": "ConsistencyTraining", "method": estimator.method,
            "algorithm": estimator.algorithm_, "steps": estimator.n_steps_,
            "ema_momentum": estimator.ema_used(), "ema_warmup": estimator.ema_warmup,
            "epochs": estimator.history_, "warnings": estimator.warnings_}


@history_record.register
def _(estimator: TeacherStudent) -> dict:
    return {"estimator": "TeacherStudent", "teacher": estimator.method,
            "algorithm": estimator.algorithm_, "steps": estimator.n_steps_,
            "steps_plan": estimator.steps_plan_, "stages": estimator.stages_,
            "epochs": estimator.history_, "warnings": estimator.warnings_}


@history_record.register
def _(estimator: TableEnsemble) -> dict:
    network = getattr(estimator, "network_", None)
    return {"estimator": "TableEnsemble", "members": estimator.member_names(),
            "choice": estimator.choice_,
            "gamma": estimator.gamma_, "n_iter": estimator.n_iter_,
            "termination_condition": estimator.termination_condition_,
            "rounds": estimator.rounds_,
            **({} if network is None else {"network": {
                "steps": network.n_steps_, "wall_s": network.wall_s_,
                "mask_rate": (network.history_.get("mask_rate") or [None])[-1]}})}


def history_series(history: dict) -> dict[str, list[float]]:
    """The per-epoch series of a `history.json` record: consistency training's `epochs`, or
    self-training's stages one after another.

    Args:
        history: what `history_record` returned (or `history.json` holds).

    Returns:
        `{metric: [value per epoch]}`.
    """
    if isinstance(history.get("epochs"), dict):
        return {k: v for k, v in history["epochs"].items() if isinstance(v, list)}
    series: dict[str, list[float]] = {}
    for stage in history.get("stages", []):
        for key, values in (stage.get("history") or {}).items():
            series.setdefault(key, []).extend(values)
    return series


def write_tensorboard(history: dict, directory: str | Path) -> Path:
    """Write every per-epoch metric of a fit, and self-training's rounds, as TensorBoard
    scalars (open them with `tensorboard --logdir DIRECTORY`).

    Args:
        history: what `history_record` returned.
        directory: the log directory of this fit.

    Returns:
        The directory.
    """
    import math

    import tensorflow as tf

    directory = Path(directory)
    writer = tf.summary.create_file_writer(str(directory))
    with writer.as_default():
        for name, values in history_series(history).items():
            for epoch, value in enumerate(values, start=1):
                if value is not None and math.isfinite(float(value)):
                    tf.summary.scalar(name, float(value), step=epoch)
        for record in history.get("rounds") or []:
            tf.summary.scalar("rounds/accepted", record["accepted"], step=record["round"])
            accuracy = record.get("pseudo_label_accuracy")
            if accuracy is not None:
                tf.summary.scalar("rounds/pseudo_label_accuracy", accuracy,
                                  step=record["round"])
    writer.close()
    return directory
