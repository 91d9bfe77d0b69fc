"""One experiment: fit a method and its supervised baseline, score both, write the run."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fewlabels import report
from fewlabels.data.splits import hide_labels, stratified_split
from fewlabels.errors import FewLabelsWarning, InputError
from fewlabels.files import inside, write_json
from fewlabels.training.distribute import build_strategy, distributed
from fewlabels.workflow import reporting
from fewlabels.workflow.html_report import save_examples, write_report
from fewlabels.workflow.open_set import score_pool, write_suspected
from fewlabels.workflow.rundir import (
    HISTORY_FILE,
    METRICS_FILE,
    RUN_FILES,
    check_run_dir,
    checkpoint_policy,
    retire_previous_run,
    run_lock,
    say,
    versions,
    write_manifest,
    written_folder,
)

TABLE_METHOD = "table-ensemble"
TEACHER_STUDENT = "teacher-student"
"""`TeacherStudent`: a consistency algorithm teaches (`teacher=`, default FixMatch), fresh
students learn its labels."""
STREAMED_IMAGE_METHOD = "softmatch"
"""The default for images whose unlabeled part streams from disk (`default_method`)."""
AUTO = "auto"
"""The method name that picks the default for the data (`default_method`): `TABLE_METHOD`
for feature rows, `TEACHER_STUDENT` for images."""
FEW_TEST_ROWS = 50
"""Fewer test rows than this make a run warn that its scores are noisy."""


@dataclasses.dataclass
class RunResult:
    """What a run produced.

    Attributes:
        run_dir: the run directory.
        estimator: the fitted estimator of the chosen method.
        results: one record per evaluated method/stage (`name`, `metrics`, ...).
        table: the comparison table, as printed.
        written: whether this process wrote `run_dir` (False on a worker of a multi-worker
            run: its chief writes it).
        open_set: the unlabeled pool scored for foreign items (`metrics.json`'s `open_set`:
            the threshold, how many items are suspected, the first of them).
    """

    run_dir: Path
    estimator: Any
    results: list[dict]
    table: str
    written: bool = True
    open_set: dict | None = None


def methods() -> list[str]:
    """Every method `fit` accepts: the table ensemble, self-training, supervised,
    teacher-student and the consistency algorithms (`"auto"`, the default, picks one of them
    for the data). Algorithms that only learn from a teacher (`distill`) are stages of
    teacher-student, not methods of their own.

    Returns:
        The method names, as `--method` takes them.

    Example:
    ```python
    fewlabels.methods()   # ['table-ensemble', 'self-training', 'supervised', 'fixmatch', ...]
    ```
    """
    from fewlabels.estimators import estimator_classes  # (no TensorFlow)

    return [name for cls in estimator_classes() for name in cls.method_names()]


def default_method(images: bool, *, streamed: bool = False, transfer: bool = False) -> str:
    """The method `"auto"` stands for: the one measured best for the data.

    - Feature rows: the table ensemble, the best mean accuracy of the tabular benchmark
      (docs/benchmark-tabular.md).
    - Images: teacher-student, which matches or passes the best of the FixMatch family on
      Fashion-MNIST with 400 labels in 30 minutes (docs/benchmark-fmnist-400.md).
    - Images whose unlabeled part streams from disk: SoftMatch, the family's best mean
      there, since teacher-student keeps the pool in memory.
    - A pretrained backbone: self-training, whose two-phase schedule (frozen backbone, then
      fine-tuning) the transfer benchmark measured (docs/benchmark-transfer.md).

    Args:
        images: whether the data are images.
        streamed: whether unlabeled images are read from disk during training.
        transfer: whether the network is a pretrained backbone (`backbone=`).

    Returns:
        A name from `methods()`.

    Example:
    ```python
    default_method(images=True)                  # "teacher-student"
    default_method(images=True, streamed=True)   # "softmatch"
    ```
    """
    if not images:
        return TABLE_METHOD
    if transfer:
        return "self-training"
    return STREAMED_IMAGE_METHOD if streamed else TEACHER_STUDENT


def estimator_for(method: str, *, images: bool, streamed: bool = False, **params: Any):
    """`make_estimator` for a method name, `"auto"` resolved for the data.

    Args:
        method: a name from `methods()`, or `"auto"` (`default_method`).
        images: whether the data are images.
        streamed: whether unlabeled images are read from disk during training.
        **params: estimator parameters, as `make_estimator` takes them.

    Returns:
        An unfitted estimator. When `"auto"` chose the method, a parameter's `InputError`
        names it.

    Example:
    ```python
    model = estimator_for("auto", images=True, steps=2000)   # a TeacherStudent
    ```
    """
    if method != AUTO:
        return make_estimator(method, **params)
    chosen = default_method(images, streamed=streamed,
                            transfer=params.get("backbone") is not None)
    try:
        return make_estimator(chosen, **params)
    except InputError as error:
        raise InputError(f"{error} (method 'auto' chose {chosen!r} for this data; "
                         "--method names another)") from None


def make_estimator(method: str = "self-training", **params: Any):
    """The estimator for a method name.

    Args:
        method: `"table-ensemble"` (`TableEnsemble`), `"self-training"`, `"supervised"`
            (the self-training model with `rounds=0`, no fine-tuning), `"teacher-student"`
            (`TeacherStudent`; `teacher=` names its consistency algorithm, default
            `"fixmatch"`), or a consistency algorithm from the registry (`"fixmatch"`,
            `"flexmatch"`, ...: see `methods()`).
        **params: estimator parameters. The augmentation policy's options (`rotation`,
            `horizontal_flip`, ...) go to `augment_params`; for consistency methods, names
            that are not `ConsistencyTraining` parameters go to the algorithm (`threshold`,
            `lambda_u`, ...), which names any it does not take.

    Returns:
        An unfitted `TableEnsemble`, `SelfTraining`, `ConsistencyTraining` or
        `TeacherStudent`.

    Example:
    ```python
    model = make_estimator("fixmatch", steps=2000, threshold=0.9)
    ```
    """
    from fewlabels import params as p
    from fewlabels.estimators import method_estimator

    cls = method_estimator(method)
    if cls is None:
        raise InputError(f"method must be one of {methods()}; got {method!r}.")
    estimator = cls.for_method(method, **params)  # names an unknown parameter
    p.validate_params(estimator)  # at the door: before any data is read
    if hasattr(estimator, "_check_specs"):  # and the specs' settings (`selection.threshold`)
        estimator._check_specs()
    return estimator


def run_experiment(
    x: np.ndarray,
    y: np.ndarray,
    classes: list,
    *,
    out: str | Path,
    estimator,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    test_fraction: float = 0.2,
    baseline: bool = True,
    y_hidden: np.ndarray | None = None,
    labels_per_class: int | None = None,
    overwrite: bool = False,
    config: dict | None = None,
    verbose: int = 0,
    resume: bool = False,
    checkpoint_steps: int | None = None,
    checkpoint_seconds: float | None = 60.0,
    unlabeled_files=None,
    tensorboard: str | Path | None = None,
    strategy: str = "auto",
    items: tuple[str, list[str]] | None = None,
) -> RunResult:
    """Fit a method, compare it with a supervised baseline on test data, and write a run dir.

    Args:
        x, y, classes: every training row's features and class index (-1: unlabeled), and
            the class names.
        out, estimator: the run directory, and an unfitted estimator (`make_estimator`).
        x_test, y_test: held-out test data; if None, `test_fraction` of each labeled class
            is held out (seeded by the estimator's seed). Unlabeled rows never go to test.
        test_fraction: the share of labeled rows held out when no test data is given.
        baseline: also train the supervised-only model with the same budget.
        y_hidden: true labels of the unlabeled rows, when known (to report pseudo-label
            accuracy; never used for training).
        labels_per_class: keep only this many labels per class, hiding the others.
        overwrite, config: allow a non-empty run directory; extra keys for `config.json`.
        verbose: 0 quiet; 1 stage messages and a short line per epoch; 2 Keras's own lines.
        resume: continue the unfinished run in `out` (refused if anything changed).
        checkpoint_steps, checkpoint_seconds: also checkpoint every this many steps, and
            when this much time passed since the last checkpoint.
        unlabeled_files: more unlabeled images streamed from disk (`data.folders.ImageFiles`).
        tensorboard: also write every per-epoch metric as TensorBoard logs here.
        strategy: the devices the method and its baseline train on (`build_strategy`); in
            a multi-worker run every process calls this, and only the chief writes `out`.
        items: `(key, names)`: `suspected.csv`'s name for each row of `x` (`runs.item_keys`).

    Returns:
        A `RunResult`; its `open_set` is the unlabeled pool scored (`workflow.open_set`).
    """
    out = check_run_dir(out, overwrite, resume)
    devices = build_strategy(strategy)  # (an unknown or unsupported one, at the door)
    _check_tensorboard(tensorboard)
    x, y, y_hidden, x_test, y_test, test_source, kept = _split_test(
        np.asarray(x), np.asarray(y, dtype=np.int64), y_hidden, x_test, y_test,
        test_fraction=test_fraction, seed=estimator.split_seed(),
        labels_per_class=labels_per_class)
    estimator.set_verbose(verbose)
    method = estimator.method_name()
    streamed = _streamed(estimator, method, unlabeled_files)
    with run_lock(out), written_folder(out) as folder:  # a worker's: scratch (`is_chief`)
        if overwrite:
            retire_previous_run(folder)
        write_manifest(folder, list(RUN_FILES[:-1]))  # what a later overwrite may remove
        policy = functools.partial(checkpoint_policy, out, resume=resume,
                                   checkpoint_steps=checkpoint_steps,
                                   checkpoint_seconds=checkpoint_seconds)
        with distributed(devices):  # every network is built, and the test set predicted,
            baseline_estimator, results, pool = _train(  # in its scope
                estimator, method, baseline, data=(x, y, classes, y_hidden, x_test, y_test),
                policy=policy, streamed=streamed, verbose=verbose, items=(items, kept))
        save_examples(folder, estimator, x_test, y_test)  # (image runs: shown in the report)
        _write_run(folder, estimator, baseline_estimator, results, test_source=test_source,
                   n_test=0 if y_test is None else len(y_test),
                   config={"method": method, **(config or {}), "test": test_source},
                   tensorboard=tensorboard, pool=pool)
    return RunResult(run_dir=out, estimator=estimator, results=results, written=folder == out,
                     table=report.comparison_table(results) if results else "(no test rows)",
                     open_set=pool.record)


def _train(estimator, method: str, baseline: bool, *, data: tuple, policy, streamed: dict,
           verbose: int, items: tuple):
    """The method's fit, then its supervised baseline's; returns the baseline (or None),
    both scored on the test rows, and the unlabeled pool scored (`_score_pool`)."""
    x, y, classes, y_hidden, x_test, y_test = data
    say(verbose, f"== {method} ==")
    estimator.fit(x, y, classes=classes, y_hidden=y_hidden, checkpoint=policy("main"),
                  **streamed)
    fitted = _baseline(estimator, method, baseline, x, y, classes, policy=policy,
                       streamed=streamed, verbose=verbose)
    return (fitted, _score(estimator, fitted, x_test, y_test),
            _score_pool(estimator, x, y, x_test, *items,
                        unlabeled_files=streamed.get("unlabeled_files")))


def _baseline(estimator, method: str, baseline: bool, x, y, classes, *, policy, streamed: dict,
              verbose: int):
    """The supervised baseline with the same budget, fitted (None when not asked for)."""
    if not baseline or method == "supervised":
        return None
    fitted = estimator.supervised_baseline()
    if fitted is None:
        return None
    say(verbose, f"== supervised baseline ({fitted.budget_words()}) ==")
    fitted.fit(x, y, classes=classes, checkpoint=policy("baseline"), **streamed)
    return fitted


def _score_pool(estimator, x, y, x_test, items, kept, *, unlabeled_files):
    """The run's unlabeled pool scored for foreign items (`open_set.score_pool`), the
    threshold set on the test rows (or, without them, on the labeled training rows).
    `items`: `(key, names)` of the rows of the data (None: positions); `kept`: the data's
    row of each training row."""
    key, names = items or ("index", None)
    names = [str(i) for i in kept] if names is None else [names[i] for i in kept]
    pool = np.flatnonzero(y < 0)
    held_out = x_test is not None and len(x_test) > 0
    known_from = (f"test rows ({len(x_test)})" if held_out else
                  f"labeled training rows ({int(np.sum(y >= 0))}; seen in training, so the "
                  "threshold is lower than held-out rows would set)")
    return score_pool(estimator, x[pool], [names[i] for i in pool],
                      x_test if held_out else x[y >= 0], key=key, known_from=known_from,
                      not_scored=0 if unlabeled_files is None else len(unlabeled_files))


def _check_tensorboard(tensorboard) -> None:
    """TensorBoard logs asked for (`tensorboard` not None) need TensorBoard installed."""
    import importlib.util

    if tensorboard is not None and importlib.util.find_spec("tensorboard") is None:
        raise InputError("--tensorboard writes TensorBoard logs, which needs TensorBoard: "
                         "pip install 'fewlabels[tensorboard]'.")


def _score(estimator, baseline_estimator, x_test, y_test) -> list[dict]:
    """The results rows on the test data: the baseline first, then each stage scored."""
    if y_test is None or len(y_test) == 0:
        return []
    results = []
    if baseline_estimator is not None:
        results.append(result_row("supervised baseline", baseline_estimator, x_test, y_test))
    return results + [result_row(name, estimator, x_test, y_test, stage=stage)
                      for name, stage in estimator.result_stages()]


def _split_test(x, y, y_hidden, x_test, y_test, *, test_fraction: float, seed: int,
                labels_per_class: int | None = None):
    """The training and test data (`_held_out`), then `labels_per_class` labels of each
    class kept for training, when asked; last, the positions in `x` of the training rows."""
    x, y, y_hidden, x_test, y_test, source, kept = _held_out(
        x, y, y_hidden, x_test, y_test, test_fraction=test_fraction, seed=seed)
    if labels_per_class is not None:
        y, y_hidden = _keep_labels(y, y_hidden, labels_per_class, seed)
    return x, y, y_hidden, x_test, y_test, source, kept


def _held_out(x, y, y_hidden, x_test, y_test, *, test_fraction: float, seed: int):
    """Hold out `test_fraction` of each labeled class as test data, unless test data is
    given; warn when the test rows are too few to measure."""
    if y_hidden is not None:
        y_hidden = np.asarray(y_hidden, dtype=np.int64)
    if x_test is not None:
        _warn_if_few_test_rows(y_test, given=True)
        return x, y, y_hidden, x_test, y_test, "given", np.arange(len(y))
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"test_fraction must be in [0, 1); got {test_fraction!r}.")
    labeled = np.flatnonzero(y >= 0)
    _, held = stratified_split(y[labeled], test_fraction, seed)
    test_rows = labeled[held]
    train = np.setdiff1d(np.arange(len(y)), test_rows)
    _warn_if_few_test_rows(y[test_rows], given=False)
    return (x[train], y[train], None if y_hidden is None else y_hidden[train], x[test_rows],
            y[test_rows], f"held out: {test_fraction:.0%} of each labeled class", train)


def _keep_labels(y, y_hidden, labels_per_class, seed: int):
    """Keep `labels_per_class` labels per class; the hidden ones measure pseudo-labels."""
    if not isinstance(labels_per_class, int) or labels_per_class < 1:
        raise InputError(f"labels_per_class must be an integer >= 1; got {labels_per_class!r}.")
    y, hidden = hide_labels(y, labels_per_class, seed)
    return y, hidden if y_hidden is None else np.where(hidden >= 0, hidden, y_hidden)


def _warn_if_few_test_rows(y_test, given: bool) -> None:
    if y_test is None or len(y_test) == 0:
        warnings.warn("no test rows: the run reports validation scores only.",
                      FewLabelsWarning, stacklevel=4)
    elif len(y_test) < FEW_TEST_ROWS:
        more = ("a larger test set measures more precisely" if given else
                "pass a labeled test file (--test FILE) to measure more precisely")
        warnings.warn(
            f"the test split has only {len(y_test)} rows, so one row is "
            f"{100 / len(y_test):.0f} points of accuracy and the scores are noisy; {more}.",
            FewLabelsWarning, stacklevel=4,
        )


def _streamed(estimator, method: str, unlabeled_files) -> dict:
    """The `fit` keyword that streams unlabeled images, for the methods that can."""
    if unlabeled_files is None:
        return {}
    if not estimator.streams_unlabeled:
        raise InputError(
            f"method {method!r} cannot stream unlabeled images from disk; use a "
            "consistency method (fewlabels methods), or drop --stream-unlabeled.")
    return {"unlabeled_files": unlabeled_files}


def result_row(name: str, estimator, x_test, y_test, stage: str = "final") -> dict:
    """One row of a run's results: the test metrics of one model, and what its fit did."""
    return {"name": name, "stage": stage,
            "metrics": estimator.evaluate(x_test, y_test, stage=stage),
            **estimator.run_summary()}


def _write_run(out: Path, estimator, baseline_estimator, results: list[dict], *, test_source: str,
               n_test: int, config: dict, tensorboard=None, pool=None) -> None:
    """Write the run files: the model, classes and config, metrics, history, the suspected
    foreign items (`pool`: `open_set.PoolScores`) and the report (and TensorBoard logs, if
    asked)."""
    from fewlabels import __version__

    out.mkdir(parents=True, exist_ok=True)
    if pool is not None:
        write_suspected(out, pool, list(estimator.classes_))
    estimator.save(out, extra_config={**config, "versions": versions()})
    write_json(inside(out, METRICS_FILE), {
        "test": {"source": test_source, "n": n_test},
        "results": results,
        "open_set": None if pool is None else pool.record,
        "fewlabels_version": __version__,
    })
    write_json(inside(out, HISTORY_FILE), {
        **estimator.history_record(),
        "baseline": None if baseline_estimator is None
        else baseline_estimator.history_record(),
    })
    _report_or_warn(out)
    if tensorboard is not None:
        for name, fitted in ((config["method"], estimator),
                             ("supervised baseline", baseline_estimator)):
            if fitted is not None:
                reporting.write_tensorboard(fitted.history_record(),
                                            Path(tensorboard) / name)


def _report_or_warn(out: Path) -> None:
    """Write the run's HTML report; a failure there warns and leaves the finished run as it
    is (the model and metrics are written): `fewlabels report RUN_DIR` tries again."""
    import warnings

    try:
        write_report(out)
    except Exception as err:  # a report never fails a finished fit
        warnings.warn(f"{out}: the run is complete, but its report could not be written "
                      f"({type(err).__name__}: {err}); `fewlabels report {out}` tries again.",
                      FewLabelsWarning, stacklevel=3)

