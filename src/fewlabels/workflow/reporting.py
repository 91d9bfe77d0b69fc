"""A fit's history as the run keeps it: its per-epoch series, and TensorBoard logs.

What a run reports about an estimator (its name, baseline, rows, summary and history
record) each estimator says itself (`Estimator.method_name`, `supervised_baseline`,
`budget_words`, `result_stages`, `run_summary`, `history_record`): the workflow asks.
"""

from __future__ import annotations

from pathlib import Path


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
