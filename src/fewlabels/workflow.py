"""Run-directory workflows: what `fewlabels fit`, `evaluate`, `predict` and `demo` do.

The CLI only parses arguments and calls these functions, so everything it can do, Python can
do too. A run directory holds:

- `model.keras`: the trained model (standardization included), loaded with `safe_mode=True`;
- `classes.json`: the class list, index order;
- `config.json`: every option, the seed, the data fingerprint and the versions;
- `metrics.json`: test metrics of each method and stage;
- `history.json`: every training stage's Keras history and every self-training round.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import platform
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fewlabels import report
from fewlabels.data.builtin import load_builtin
from fewlabels.data.sources import is_image_source, labels_by_name, load_images
from fewlabels.data.splits import hide_labels, stratified_split
from fewlabels.data.table import load_table
from fewlabels.errors import FewLabelsError, FewLabelsWarning
from fewlabels.io import file_sha256, inside, read_json, write_json, write_text

METHODS = ("self-training", "supervised")
METRICS_FILE = "metrics.json"
FEW_TEST_ROWS = 50
"""Fewer test rows than this make a run warn that its scores are noisy."""
HISTORY_FILE = "history.json"
CHECKPOINTS = "checkpoints"


@dataclasses.dataclass
class RunResult:
    """What a run produced.

    Attributes:
        run_dir: the run directory.
        estimator: the fitted estimator of the chosen method.
        results: one record per evaluated method/stage (`name`, `metrics`, ...).
        table: the comparison table, as printed.
    """

    run_dir: Path
    estimator: Any
    results: list[dict]
    table: str


def make_estimator(method: str = "self-training", **params: Any):
    """The estimator for a method name.

    Args:
        method: `"self-training"`, `"supervised"` (the self-training model with `rounds=0`,
            no fine-tuning), or a consistency algorithm from the registry (`"fixmatch"`,
            `"flexmatch"`, ... : `fewlabels.algorithms.names()`).
        **params: estimator parameters. For consistency methods, names that are not
            `ConsistencyTraining` parameters go to the algorithm (`threshold`, `lambda_u`,
            ...), which names any it does not take.

    Returns:
        An unfitted `SelfTraining` or `ConsistencyTraining`.
    """
    from fewlabels.algorithms import names
    from fewlabels.consistency import ConsistencyTraining
    from fewlabels.self_training import SelfTraining

    if method in METHODS:
        estimator = SelfTraining().set_params(**params)  # names an unknown parameter
        if method == "supervised":
            estimator.set_params(rounds=0, finetune=False)
        return estimator
    if method not in names():
        raise FewLabelsError(
            f"method must be one of {[*METHODS, *(n for n in names() if n != 'supervised')]}; "
            f"got {method!r}."
        )
    own = {k: v for k, v in params.items() if k in ConsistencyTraining._parameter_constraints}
    algorithm_params = {k: v for k, v in params.items() if k not in own}
    if algorithm_params:
        own["algorithm_params"] = {**(own.get("algorithm_params") or {}), **algorithm_params}
    return ConsistencyTraining(method=method).set_params(**own)


def method_names() -> list[str]:
    """Every method `fit` accepts: self-training, supervised, and the consistency algorithms."""
    from fewlabels.algorithms import names

    return [*METHODS, *(n for n in names() if n != "supervised")]


def check_run_dir(out: str | Path, overwrite: bool, resume: bool = False) -> Path:
    """Refuse a run directory that is a file, or non-empty without `overwrite` or `resume`.

    Training writes checkpoints into `RUN_DIR/checkpoints/` as it goes; the run files
    (`model.keras`, ...) only once training succeeded. A directory holding checkpoints but
    no model is an unfinished run: `resume` continues it, `overwrite` deletes its
    checkpoints and starts over.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FewLabelsError(f"{out}: exists and is not a directory.")
    checkpoints = out / CHECKPOINTS
    if resume and overwrite:
        raise FewLabelsError("--resume continues a run and --overwrite replaces it; pass one.")
    if resume:
        if not checkpoints.is_dir():
            raise FewLabelsError(f"{out}: no unfinished run to resume (no {CHECKPOINTS}/ "
                                 "folder here).")
        if (out / "model.keras").exists():
            raise FewLabelsError(f"{out}: this run already finished (model.keras exists).")
        inside(out, CHECKPOINTS)
        return out
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        hint = (" It holds an unfinished run: pass --resume to continue it." if
                checkpoints.is_dir() and not (out / "model.keras").exists() else "")
        raise FewLabelsError(
            f"{out}: the run directory is not empty; choose another --out, or pass "
            f"--overwrite (overwrite=True) to replace the run files in it.{hint}"
        )
    if overwrite and checkpoints.is_dir() and not checkpoints.is_symlink():
        import shutil

        shutil.rmtree(checkpoints)
    return out


def _policy(out: Path, name: str, resume: bool, checkpoint_steps: int | None,
            checkpoint_seconds: float | None):
    """The checkpoint policy of one estimator of a run (`RUN_DIR/checkpoints/<name>`)."""
    from fewlabels.checkpoint import CheckpointPolicy

    directory = inside(out, CHECKPOINTS, name)
    return CheckpointPolicy(directory, resume=resume and directory.is_dir(),
                            every_steps=checkpoint_steps, every_seconds=checkpoint_seconds)


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
) -> RunResult:
    """Fit a method, compare it with a supervised baseline on test data, and write a run dir.

    Args:
        x: features of every training row, labeled and unlabeled.
        y: class indices, -1 for unlabeled rows.
        classes: the class names.
        out: the run directory.
        estimator: an unfitted `SelfTraining` (see `make_estimator`).
        x_test: held-out test features; if None, `test_fraction` of each labeled class is
            held out (seeded by the estimator's seed). Unlabeled rows never go to test.
        y_test: held-out test labels (class indices).
        test_fraction: the share of labeled rows held out when no test data is given.
        baseline: also train the supervised-only MLP with the same epoch budget.
        y_hidden: true labels of the unlabeled rows, when known (to report pseudo-label
            accuracy; never used for training).
        labels_per_class: keep only this many labels per class (stratified, seeded by the
            estimator's seed, after the test split) and train with the others hidden; their
            true labels only measure pseudo-label accuracy. For trying fewlabels on a fully
            labeled set.
        overwrite: allow a non-empty run directory.
        config: extra keys for `config.json` (data paths, options).
        verbose: 0 quiet, 1 progress bars and stage messages, 2 one line per epoch.
        resume: continue the unfinished run in `out` from its newest usable checkpoint
            (refused if the data, classes, method or settings changed).
        checkpoint_steps: also checkpoint every this many optimizer steps (default: at
            every epoch end, and every `checkpoint_seconds`).
        checkpoint_seconds: checkpoint when this much time passed since the last one.
        unlabeled_files: more unlabeled images, streamed from disk during training
            (`fewlabels.data.folders.ImageFiles`; consistency methods only).

    Returns:
        A `RunResult`.
    """
    out = check_run_dir(out, overwrite, resume)
    if out.is_dir():  # refuse planted symlinks before training, not after
        for name in ("model.keras", "classes.json", "config.json", METRICS_FILE, HISTORY_FILE,
                     CHECKPOINTS):
            inside(out, name)
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.int64)
    if y_hidden is not None:
        y_hidden = np.asarray(y_hidden, dtype=np.int64)
    if x_test is None:
        labeled = np.flatnonzero(y >= 0)
        if not 0.0 <= test_fraction < 1.0:
            raise FewLabelsError(f"test_fraction must be in [0, 1); got {test_fraction!r}.")
        _, held = stratified_split(y[labeled], test_fraction, estimator.seed)
        test_rows = labeled[held]
        x_test, y_test = x[test_rows], y[test_rows]
        train = np.setdiff1d(np.arange(len(y)), test_rows)
        x, y = x[train], y[train]
        y_hidden = None if y_hidden is None else y_hidden[train]
        test_source = f"held out: {test_fraction:.0%} of each labeled class"
    else:
        test_source = "given"
    if labels_per_class is not None:
        if not isinstance(labels_per_class, int) or labels_per_class < 1:
            raise FewLabelsError(
                f"labels_per_class must be an integer >= 1; got {labels_per_class!r}."
            )
        y, hidden = hide_labels(y, labels_per_class, estimator.seed)
        y_hidden = hidden if y_hidden is None else np.where(hidden >= 0, hidden, y_hidden)
    if y_test is None or len(y_test) == 0:
        warnings.warn(
            "no test rows: the run reports validation scores only.", FewLabelsWarning,
            stacklevel=2,
        )
    elif len(y_test) < FEW_TEST_ROWS:
        warnings.warn(
            f"the test split has only {len(y_test)} rows, so one row is "
            f"{100 / len(y_test):.0f} points of accuracy and the scores are noisy; pass a "
            "labeled test file (--test FILE) to measure more precisely.",
            FewLabelsWarning,
            stacklevel=2,
        )

    estimator.set_params(verbose=verbose)
    method = estimator.method_name()
    streamed = {}
    if unlabeled_files is not None:
        from fewlabels.consistency import ConsistencyTraining

        if not isinstance(estimator, ConsistencyTraining):
            raise FewLabelsError(
                f"method {method!r} cannot stream unlabeled images from disk; use a "
                "consistency method (fewlabels methods), or drop --stream-unlabeled.")
        streamed = {"unlabeled_files": unlabeled_files}
    _say(verbose, f"== {method} ==")
    when = (checkpoint_steps, checkpoint_seconds)
    estimator.fit(x, y, classes=classes, y_hidden=y_hidden,
                  checkpoint=_policy(out, "main", resume, *when), **streamed)

    has_test = y_test is not None and len(y_test) > 0
    results: list[dict] = []
    baseline_estimator = None
    if baseline and method != "supervised":
        baseline_estimator = estimator.supervised_baseline()
        _say(verbose, f"== supervised baseline ({baseline_estimator.budget()}) ==")
        baseline_estimator.fit(x, y, classes=classes,
                               checkpoint=_policy(out, "baseline", resume, *when), **streamed)
    if has_test:
        if baseline_estimator is not None:
            results.append(_result("supervised baseline", baseline_estimator, x_test, y_test))
        for name, stage in estimator.result_stages():
            results.append(_result(name, estimator, x_test, y_test, stage=stage))

    table = report.comparison_table(results) if results else "(no test rows)"

    from fewlabels import __version__

    out.mkdir(parents=True, exist_ok=True)
    estimator.save(out, extra_config={"method": method, **(config or {}),
                                      "test": test_source, "versions": versions()})
    write_json(inside(out, METRICS_FILE), {
        "test": {"source": test_source, "n": 0 if not has_test else len(y_test)},
        "results": results,
        "fewlabels_version": __version__,
    })
    write_json(inside(out, HISTORY_FILE), {
        **estimator.history_record(),
        "baseline": None if baseline_estimator is None else baseline_estimator.history_record(),
    })
    return RunResult(run_dir=out, estimator=estimator, results=results, table=table)


def _result(name: str, est, x_test, y_test, stage: str = "final") -> dict:
    return {"name": name, "stage": stage,
            "metrics": est.evaluate(x_test, y_test, stage=stage), **est.run_summary()}


def fit_run(
    data: str | Path,
    out: str | Path,
    *,
    method: str = "self-training",
    test: str | Path | None = None,
    test_fraction: float = 0.2,
    labels_per_class: int | None = None,
    label_column: int | str = -1,
    delimiter: str | None = None,
    header: bool | str = "auto",
    encoding: str = "utf-8",
    image_size: int | None = None,
    channels: int | None = None,
    unlabeled: str = "unlabeled",
    unlabeled_dir: str | Path | None = None,
    on_bad_image: str = "error",
    stream_unlabeled: bool = False,
    baseline: bool = True,
    overwrite: bool = False,
    verbose: int = 0,
    resume: bool = False,
    checkpoint_steps: int | None = None,
    checkpoint_seconds: float | None = 60.0,
    **params: Any,
) -> RunResult:
    """Train on a table or on images and write a run directory (what `fewlabels fit` does).

    Args:
        data: the training data: a text/CSV table (unlabeled rows marked in the label
            column), a folder with one subfolder per class (and `unlabeled/`), an `.npz`
            with `x` and `y` (-1 = unlabeled), or a built-in image dataset (`digits`,
            `fashion_mnist`, `mnist`). See `fewlabels.data.sources`.
        out: the run directory.
        method: `"self-training"` or `"supervised"`.
        test: separate labeled test data of the same kind; if None, a built-in dataset's
            own test split, else `test_fraction` of each labeled class is held out.
        test_fraction: see `run_experiment`.
        labels_per_class: keep only this many labels per class, hiding the rest (see
            `run_experiment`).
        label_column, delimiter, header, encoding: how to read tables (`load_table`).
        image_size: folders: the side images are resized to (default 64).
        channels: images: 1 (gray) or 3 (RGB); default: folders RGB, arrays as stored.
        unlabeled: folders: the subfolder of unlabeled images.
        unlabeled_dir: folders: a separate folder of unlabeled images.
        on_bad_image: folders: `"error"` or `"skip"` for files that fail the pre-scan.
        stream_unlabeled: folders, consistency methods: read the unlabeled images from disk
            batch by batch during training instead of decoding them all into memory.
        baseline: also train the supervised-only baseline with the same budget.
        overwrite: allow a non-empty run directory.
        verbose: 0 quiet, 1 progress bars, 2 one line per epoch.
        resume, checkpoint_steps, checkpoint_seconds: checkpoints and resuming (see
            `run_experiment`; docs/reliability.md).
        **params: `SelfTraining` parameters (`threshold`, `rounds`, `seed`, `backbone`, ...).

    Returns:
        A `RunResult`.

    Example:
    ```python
    result = fit_run("data.csv", "run/", threshold=0.95, seed=1)
    result = fit_run("photos/", "run2/", backbone="MobileNetV2", weights="mnv2.weights.h5",
                     augment="classic", image_size=96)
    print(result.table)
    ```
    """
    check_run_dir(out, overwrite, resume)
    estimator = make_estimator(method, **params)
    if is_image_source(data):
        read = dict(image_size=image_size, channels=channels, unlabeled=unlabeled,
                    unlabeled_dir=None if unlabeled_dir is None else str(unlabeled_dir),
                    on_bad_image=on_bad_image)
        images = load_images(data, **read, stream_unlabeled=stream_unlabeled)
        unlabeled_files = images.unlabeled_files
        x, y, classes, x_test, y_test = (images.x, images.y, images.classes, images.x_test,
                                         images.y_test)
        model_classes = classes or list(range(int(y.max()) + 1 if len(y) else 0))
        if test is not None:
            test_images = load_images(test, **{**read, "channels": x.shape[-1],
                                               "unlabeled_dir": None})
            x_test = test_images.x
            y_test = labels_by_name(test_images.y, test_images.classes, model_classes,
                                    str(test))
            _all_labeled(y_test, test)
        fingerprint = images.fingerprint
        feature_names = None
    else:
        if stream_unlabeled:
            raise FewLabelsError(f"{data}: stream_unlabeled reads image folders; a table is "
                                 "read into memory.")
        unlabeled_files = None
        read = dict(label_column=label_column, delimiter=delimiter, header=header,
                    encoding=encoding)
        table = load_table(data, **read)
        x, y, classes, x_test, y_test = table.x, table.y, table.classes, None, None
        if test is not None:
            test_table = load_table(test, classes=table.classes, **read)
            _all_labeled(test_table.y, test, test_table.rows)
            x_test, y_test = test_table.x, test_table.y
        fingerprint = file_sha256(data)
        feature_names = table.feature_names
    config = {
        "data": str(data),
        "data_sha256": fingerprint,
        "test_data": None if test is None else str(test),
        "test_fraction": test_fraction,
        "labels_per_class": labels_per_class,
        "read": read,
        "feature_names": feature_names,
        "baseline": baseline,
        "stream_unlabeled": stream_unlabeled,
    }
    return run_experiment(
        x, y, classes, out=out, estimator=estimator, x_test=x_test, y_test=y_test,
        test_fraction=test_fraction, labels_per_class=labels_per_class, baseline=baseline,
        overwrite=overwrite, config=config, verbose=verbose, resume=resume,
        checkpoint_steps=checkpoint_steps, checkpoint_seconds=checkpoint_seconds,
        unlabeled_files=unlabeled_files,
    )


def _all_labeled(y: np.ndarray, source, rows: np.ndarray | None = None) -> None:
    """Refuse test data with unlabeled rows, naming the first one."""
    if np.any(y < 0):
        first = int(np.flatnonzero(y < 0)[0])
        where = f"row {int(rows[first])}" if rows is not None else f"image {first}"
        raise FewLabelsError(
            f"{source}: {int(np.sum(y < 0))} test rows are unlabeled; every test row needs a "
            f"label (first at {where})."
        )


def evaluate_run(
    run_dir: str | Path,
    data: str | Path,
    *,
    out: str | Path | None = None,
    label_column: int | str = -1,
    delimiter: str | None = None,
    header: bool | str = "auto",
    encoding: str = "utf-8",
    on_bad_image: str = "error",
    trust_model: bool = False,
) -> dict:
    """Evaluate a saved run's model on labeled data; write the metrics as JSON.

    Unlabeled rows in `data` are skipped (with a warning).

    Args:
        run_dir: a directory written by `fit_run`.
        data: for a table model, a labeled table with the training file's columns; for an
            image model, a class-per-folder directory (classes matched by name), an `.npz`
            or a built-in dataset (its test split).
        out: where to write the metrics JSON (default `RUN_DIR/evaluation.json`).
        label_column, delimiter, header, encoding: how to read a table.
        on_bad_image: folders: `"error"` or `"skip"` for files that fail the pre-scan.
        trust_model: load a model file that fails the safety inspection (a Lambda layer,
            a function from another package): only for files you trust.

    Returns:
        The metrics dict, plus `data` and `n_skipped_unlabeled`.
    """
    from fewlabels.estimator import load_estimator

    estimator = load_estimator(run_dir, trust_model=trust_model)
    if len(estimator.input_shape_) == 3:
        images = load_images(data, **_image_read(estimator, data, on_bad_image))
        if images.x_test is not None:  # a built-in dataset: its test split
            x, y = images.x_test, images.y_test
        else:
            x = images.x
            y = labels_by_name(images.y, images.classes, estimator.classes_, str(data))
    else:
        table = load_table(data, label_column=label_column, delimiter=delimiter,
                           header=header, encoding=encoding, classes=estimator.classes_)
        x, y = table.x, table.y
    labeled = y >= 0
    if not labeled.any():
        raise FewLabelsError(f"{data}: no labeled rows to evaluate on.")
    if not labeled.all():
        warnings.warn(f"{data}: skipping {int(np.sum(~labeled))} unlabeled rows.",
                      FewLabelsWarning, stacklevel=2)
    metrics = estimator.evaluate(x[labeled], y[labeled])
    metrics = {"data": str(data), "n_skipped_unlabeled": int(np.sum(~labeled)), **metrics}
    write_json(Path(out) if out is not None else Path(run_dir) / "evaluation.json", metrics)
    return metrics


def predict_run(
    run_dir: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    label_column: int | str | None = -1,
    delimiter: str | None = None,
    header: bool | str = "auto",
    encoding: str = "utf-8",
    on_bad_image: str = "error",
    trust_model: bool = False,
) -> int:
    """Predict every row (or image) of `data` with a saved run's model; write a CSV.

    Tables: the file may carry a label column or not (a file with exactly as many columns as
    the model has features is read as features only). The CSV has one line per input row, in
    input order: `row` (the 1-based line number in `data`), `class` (the predicted class
    name) and one `p_<class>` probability column per class.

    Images: `data` is a folder of images in any layout (pre-scanned, then streamed from disk
    batch by batch, so a folder larger than memory works), an `.npz` or a built-in dataset
    (its test split). The first column is then `path` (folders) or `index`.

    Args:
        run_dir: a directory written by `fit_run`.
        data: the table, folder or arrays to predict.
        out: the CSV to write.
        label_column, delimiter, header, encoding: how to read a table.
        on_bad_image: folders: `"error"` or `"skip"` for files that fail the pre-scan.
        trust_model: see `evaluate_run`.

    Returns:
        The number of rows predicted.
    """
    from fewlabels.estimator import load_estimator

    estimator = load_estimator(run_dir, trust_model=trust_model)
    out = Path(out)
    if out.parent and not out.parent.exists():
        raise FewLabelsError(f"{out}: the folder {out.parent} does not exist.")
    if len(estimator.input_shape_) == 3:
        key, batches = _image_batches(estimator, data, on_bad_image)
    else:
        table = load_table(data, label_column=label_column, delimiter=delimiter,
                           header=header, encoding=encoding, classes=estimator.classes_,
                           n_features=estimator.input_shape_[0])
        key, batches = "row", [([int(r) for r in table.rows], table.x)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([key, "class", *(f"p_{c}" for c in estimator.classes_)])
    n = 0
    for names, x in batches:
        for name, p in zip(names, estimator.predict_proba(x), strict=True):
            writer.writerow([name, estimator.classes_[int(p.argmax())],
                             *(f"{v:.6f}" for v in p)])
            n += 1
    write_text(out, buf.getvalue())
    return n


def _image_read(estimator, data, on_bad_image: str) -> dict:
    """How to read images for a fitted model: its side (folders) and its channels."""
    side, _, channels = estimator.input_shape_
    return dict(image_size=side if Path(data).is_dir() else None, channels=channels,
                on_bad_image=on_bad_image)


def _image_batches(estimator, data, on_bad_image: str):
    """`(column name, iterable of (names, images))` for predicting images."""
    if not is_image_source(data):
        raise FewLabelsError(
            f"{data}: this model takes images of shape {estimator.input_shape_}; give a "
            "folder of images, an .npz file or a built-in image dataset."
        )
    read = _image_read(estimator, data, on_bad_image)
    if not Path(data).is_dir():
        images = load_images(data, **read)
        x = images.x_test if images.x_test is not None else images.x
        return "index", [([str(i) for i in range(len(x))], x)]
    from fewlabels.data.folders import image_dataset, scan_image_files

    folder = scan_image_files(data, on_bad_image=on_bad_image)
    side = read["image_size"]
    stream = image_dataset(folder, image_size=(side, side), channels=read["channels"],
                           batch_size=256, labeled=False)
    names = [str(p) for p in folder.paths]

    def batches():
        start = 0
        for images, _ in stream:
            # Rounded to uint8 as at training time, so a file predicts the same either way.
            x = np.clip(np.rint(images.numpy()), 0, 255).astype(np.uint8)
            yield names[start:start + len(x)], x
            start += len(x)

    return "path", batches()


DEMO_FIXMATCH = {"steps": 300, "steps_per_epoch": 50, "batch_size": 16, "uratio": 4}
"""The demo's FixMatch budget: about 20 seconds on 2 cores."""


def demo(
    out: str | Path = "runs/demo",
    *,
    n_per_class: int = 5,
    seed: int = 0,
    fixmatch: bool = True,
    overwrite: bool = False,
    verbose: int = 1,
    **params: Any,
) -> RunResult:
    """The demo: scikit-learn's digits with 5 labels per class, the rest unlabeled.

    20% of the digits (stratified, seeded) are the test split. From the rest, `n_per_class`
    rows per class keep their labels; every other row is unlabeled, its true label used only
    to report pseudo-label accuracy. Self-training is compared with the supervised-only MLP
    on the rows, and FixMatch trains the compact CNN on the same digits as 8x8 images, with
    the same labels (its model goes to `RUN_DIR/fixmatch/`).

    Args:
        out: the run directory.
        n_per_class: labels kept per class.
        seed: the seed of the splits and the training.
        fixmatch: also run FixMatch on the digits as images.
        overwrite: allow a non-empty run directory.
        verbose: 0 quiet, 1 progress bars, 2 one line per epoch.
        **params: `SelfTraining` parameters.

    Returns:
        A `RunResult`.
    """
    from fewlabels.consistency import ConsistencyTraining
    from fewlabels.data.images import digits_as_images

    check_run_dir(out, overwrite)
    x, y, classes = load_builtin("digits")
    rest, test = stratified_split(y, 0.2, seed)
    y_partial, y_hidden = hide_labels(y[rest], n_per_class, seed)
    estimator = make_estimator("self-training", seed=seed, **params)
    config = {"data": "builtin:digits", "n_per_class": n_per_class,
              "test": "20% of digits, stratified"}
    result = run_experiment(
        x[rest], y_partial, classes, out=out, estimator=estimator, x_test=x[test],
        y_test=y[test], y_hidden=y_hidden, overwrite=overwrite, config=config, verbose=verbose,
    )
    if not fixmatch:
        return result
    _say(verbose, "== fixmatch (the digits as 8x8 images, compact CNN) ==")
    images = digits_as_images(x)
    ssl = ConsistencyTraining(method="fixmatch", seed=seed, verbose=verbose, **DEMO_FIXMATCH)
    ssl.fit(images[rest], y_partial, classes=classes, y_hidden=y_hidden)
    result.results.append(_result("fixmatch (8x8 images, CNN)", ssl, images[test], y[test]))
    result.table = report.comparison_table(result.results)
    ssl.save(result.run_dir / "fixmatch", extra_config={"method": "fixmatch", **config,
                                             "versions": versions()})
    write_json(result.run_dir / "fixmatch" / HISTORY_FILE, ssl.history_record())
    metrics = read_json(result.run_dir / METRICS_FILE)
    write_json(result.run_dir / METRICS_FILE, {**metrics, "results": result.results})
    return result


def versions() -> dict:
    """Versions of Python and the libraries a result depends on."""
    import keras
    import sklearn

    from fewlabels import __version__

    out = {
        "python": platform.python_version(),
        "fewlabels": __version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }
    if "tensorflow" in sys.modules or keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    return out


def _say(verbose: int, message: str) -> None:
    if verbose:
        print(message, flush=True)

