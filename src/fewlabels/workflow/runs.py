"""What `fewlabels fit`, `evaluate`, `predict` and `demo` do, on files and folders.

A run directory holds:

- `model.keras`: the trained model (standardization included), loaded with `safe_mode=True`;
- `classes.json`: the class list, index order;
- `config.json`: every option, the seed, the data fingerprint and the versions;
- `metrics.json`: test metrics of each method and stage;
- `history.json`: every training stage's Keras history and every self-training round.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fewlabels import report
from fewlabels.data.builtin import load_builtin
from fewlabels.data.folders import as_pixels
from fewlabels.data.shards import is_shard_dir, open_shards
from fewlabels.data.sources import is_image_source, labels_by_name, load_images
from fewlabels.data.splits import hide_labels, stratified_split
from fewlabels.data.table import load_table
from fewlabels.errors import FewLabelsWarning, InputError
from fewlabels.estimators.specs import Budget
from fewlabels.files import csv_cell, file_sha256, inside, write_atomic, write_json
from fewlabels.novelty import SCORE, known_scores
from fewlabels.progress import counted, shown
from fewlabels.training.distribute import build_strategy, distributed, is_chief
from fewlabels.validation import check_label_counts
from fewlabels.workflow.experiment import (
    RunResult,
    default_method,
    estimator_for,
    make_estimator,
    run_experiment,
)
from fewlabels.workflow.open_set import UNKNOWN, check_unknown, run_threshold, scored
from fewlabels.workflow.rundir import (
    EVALUATION_FILE,
    check_output_file,
    check_run_dir,
    run_lock,
    say,
    write_manifest,
)


def fit_run(
    data: str | Path,
    out: str | Path,
    *,
    method: str = "auto",
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
    tensorboard: str | Path | None = None,
    strategy: str = "auto",
    labels: str | Path | list | None = None,
    **params: Any,
) -> RunResult:
    """Train on a table or on images and write a run directory (what `fewlabels fit` does).

    Args:
        data: the training data: a text/CSV table (unlabeled rows marked in the label
            column), a folder with one subfolder per class (and `unlabeled/`), an `.npz`
            with `x` and `y` (-1 = unlabeled), or a built-in image dataset (`digits`,
            `fashion_mnist`, `mnist`). See `fewlabels.data.sources`.
        out: the run directory.
        method: a name from `methods()`, or `"auto"`: the table ensemble for a table,
            teacher-student for images (`default_method` has the other cases).
        test, label_column, delimiter, header, encoding, image_size, channels, unlabeled,
            unlabeled_dir, on_bad_image, stream_unlabeled: how to read the data (see
            `load_training_data`).
        labels: an annotator's labels (a CSV as `fewlabels suggest` writes it, or a list of
            them) merged into `data` first, checked (`fewlabels.data.answers`).
        test_fraction, labels_per_class, baseline, overwrite: see `run_experiment`.
        verbose: 0 quiet; 1 one short line per epoch or stage; 2 Keras's own lines.
        resume, checkpoint_steps, checkpoint_seconds, tensorboard, strategy: `run_experiment`'s.
        **params: the method's estimator parameters (`threshold`, `rounds`, `seed`, ...).

    Returns: a `RunResult`.

    Example:
    ```python
    result = fit_run("photos/", "run/", method="fixmatch", image_size=64, steps=2000)
    print(result.table)
    ```
    """
    if strategy not in ("auto", "none"):
        build_strategy(strategy)  # a multi-worker run joins its cluster before any computation
    estimator = estimator_for(method, images=is_image_source(data),
                              streamed=stream_unlabeled, **params)
    data_options = dict(test=test, label_column=label_column, delimiter=delimiter,
                        header=header, encoding=encoding, image_size=image_size,
                        channels=channels, unlabeled=unlabeled, unlabeled_dir=unlabeled_dir,
                        on_bad_image=on_bad_image, stream_unlabeled=stream_unlabeled,
                        labels=labels)
    out = check_run_dir(out, overwrite, resume)  # then the lock, before the data is read
    with run_lock(out), shown(verbose):  # progress bars: the pre-scan, decoding, labelling
        loaded = load_training_data(data, **data_options)
        config = _fit_config(data, loaded, data_options, test_fraction=test_fraction,
                             labels_per_class=labels_per_class, baseline=baseline,
                             strategy=strategy)
        return run_experiment(
            loaded["x"], loaded["y"], loaded["classes"], out=out, estimator=estimator,
            x_test=loaded["x_test"], y_test=loaded["y_test"], test_fraction=test_fraction,
            labels_per_class=labels_per_class, baseline=baseline, overwrite=overwrite,
            config=config, verbose=verbose, resume=resume, checkpoint_steps=checkpoint_steps,
            checkpoint_seconds=checkpoint_seconds, unlabeled_files=loaded["unlabeled_files"],
            tensorboard=tensorboard, strategy=strategy, items=(loaded["key"], loaded["keys"]),
        )


def _fit_config(data, loaded: dict, options: dict, *, test_fraction, labels_per_class,
                baseline, strategy) -> dict:
    """What a run's `config.json` records of its data and options."""
    test, labels = options["test"], options["labels"]
    stream_unlabeled = options["stream_unlabeled"]
    return {
        "data": str(data), "data_sha256": loaded["fingerprint"],
        "test_data": None if test is None else str(test), "test_fraction": test_fraction,
        "labels_per_class": labels_per_class, "read": loaded["read"],
        "feature_names": loaded["feature_names"], "baseline": baseline,
        "stream_unlabeled": stream_unlabeled, "strategy": strategy,
        **({} if labels is None else {
            "labels": label_files(labels), "labels_added": loaded["labels_added"],
            "labels_sha256": [file_sha256(p) for p in label_files(labels)]}),
    }


def load_training_data(data, *, test, label_column, delimiter, header, encoding, image_size,
                       channels, unlabeled, unlabeled_dir, on_bad_image,
                       stream_unlabeled, labels=None) -> dict:
    """Read a run's training data (and its test data), a table or images, checked whole.

    Args:
        data: a table, a folder, an `.npz` or a built-in dataset name (`fit_run`).
        test: separate labeled test data of the same kind; if None, a built-in dataset's
            own test split, else None (the run holds out a split).
        label_column, delimiter, header, encoding: how to read tables (`load_table`).
        image_size: folders: the side images are resized to (default 64).
        channels: images: 1 (gray) or 3 (RGB); default: folders RGB, arrays as stored.
        unlabeled: folders: the subfolder of unlabeled images.
        unlabeled_dir: folders: a separate folder of unlabeled images.
        on_bad_image: folders: `"error"` or `"skip"` for files that fail the pre-scan.
        stream_unlabeled: folders, consistency methods: read the unlabeled images from disk
            batch by batch during training instead of decoding them all into memory.
        labels: an annotator's labels to merge in first, a file or a list of files
            (`fewlabels.data.answers`: a CSV of `row`, `path` or `index` and `label`, as
            `fewlabels suggest` writes it).

    Returns:
        A dict: `x`, `y`, `classes`, `x_test`, `y_test` (None to hold out a split),
        `unlabeled_files` (streamed images or None), `fingerprint`, `read` (the reading
        options, for `config.json`), `feature_names` (tables), `key` and `keys` (what names
        each item: `item_keys`) and `labels_added` (by `labels`).
    """
    if is_image_source(data):
        read = dict(image_size=image_size, channels=channels, unlabeled=unlabeled,
                    unlabeled_dir=None if unlabeled_dir is None else str(unlabeled_dir),
                    on_bad_image=on_bad_image)
        images = load_images(data, **read, stream_unlabeled=stream_unlabeled)
        key, keys = item_keys(data, images.names)
        y, added = _merged(labels, images.y, keys, images.classes, key)
        check_label_counts(y, images.classes or list(range(int(y.max(initial=-1)) + 1)),
                           name=str(data))
        x_test, y_test = images.x_test, images.y_test
        if test is not None:
            model_classes = images.classes or list(
                range(int(images.y.max()) + 1 if len(images.y) else 0))
            test_images = load_images(test, **{**read, "channels": images.x.shape[-1],
                                               "unlabeled_dir": None})
            x_test = test_images.x
            y_test = labels_by_name(test_images.y, test_images.classes, model_classes,
                                    str(test))
            _all_labeled(y_test, test)
        return dict(x=images.x, y=y, classes=images.classes, x_test=x_test,
                    y_test=y_test, unlabeled_files=images.unlabeled_files,
                    fingerprint=images.fingerprint, read=read, feature_names=None, key=key,
                    keys=keys, labels_added=added)
    if stream_unlabeled:
        raise InputError(f"{data}: stream_unlabeled reads image folders; a table is "
                         "read into memory.")
    read = dict(label_column=label_column, delimiter=delimiter, header=header,
                encoding=encoding)
    table = load_table(data, **read)
    if len(table.y) < 2:
        raise InputError(f"{data}: need at least 2 rows; got {len(table.y)}.")
    keys = [str(int(r)) for r in table.rows]
    y, added = _merged(labels, table.y, keys, table.classes, "row")
    check_label_counts(y, table.classes, name=str(data))
    x_test = y_test = None
    if test is not None:
        test_table = load_table(test, classes=table.classes, **read)
        _all_labeled(test_table.y, test, test_table.rows)
        x_test, y_test = test_table.x, test_table.y
    return dict(x=table.x, y=y, classes=table.classes, x_test=x_test, y_test=y_test,
                unlabeled_files=None, fingerprint=file_sha256(data), read=read,
                feature_names=table.feature_names, key="row", keys=keys, labels_added=added)


def item_keys(data, names: list[str]) -> tuple[str, list[str]]:
    """How the items of image data are named in a picks or labels CSV: `("path", paths
    inside the folder)` for a folder or shards, else `("index", positions)`."""
    if Path(data).is_dir():
        return "path", [os.path.relpath(name, data) for name in names]
    return "index", [str(i) for i in range(len(names))]


def _merged(labels, y: np.ndarray, keys: list[str], classes, key: str):
    """`(y, number of items labelled)` with answers files' labels merged in, in order."""
    from fewlabels.data.answers import merge_answers, read_answers

    names = list(classes) if classes else [str(c) for c in range(int(y.max(initial=-1)) + 1)]
    added = 0
    for path in label_files(labels):
        y, n = merge_answers(y, keys, names, read_answers(path), key=key)
        added += n
    return y, added


def label_files(labels) -> list[str]:
    """`labels` (None, a file, or a list of files) as a list of file names."""
    if labels is None:
        return []
    return [str(p) for p in ([labels] if isinstance(labels, str | Path) else labels)]


def _all_labeled(y: np.ndarray, source, rows: np.ndarray | None = None) -> None:
    """Refuse test data with unlabeled rows, naming the first one."""
    if np.any(y < 0):
        first = int(np.flatnonzero(y < 0)[0])
        where = f"row {int(rows[first])}" if rows is not None else f"image {first}"
        raise InputError(
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
    tta: bool = False,
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
        tta: average each image's probabilities with its mirror image's (`predict_proba`).

    Returns:
        The metrics dict, plus `data`, `n_skipped_unlabeled` and `tta`.
    """
    from fewlabels.estimators import load_estimator

    if out is not None:
        out = check_output_file(out, run_dir, data, kind="metrics")
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
        raise InputError(f"{data}: no labeled rows to evaluate on.")
    if not labeled.all():
        warnings.warn(f"{data}: skipping {int(np.sum(~labeled))} unlabeled rows.",
                      FewLabelsWarning, stacklevel=2)
    metrics = estimator.evaluate(x[labeled], y[labeled], tta=tta)
    metrics = {"data": str(data), "n_skipped_unlabeled": int(np.sum(~labeled)), "tta": tta,
               **metrics}
    if out is None:
        write_manifest(Path(run_dir), [EVALUATION_FILE])
        write_json(inside(Path(run_dir), EVALUATION_FILE), metrics)
    else:
        write_json(out, metrics)
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
    verbose: int = 0,
    tta: bool = False,
    strategy: str = "auto",
    unknown: bool | float = False,
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
        trust_model, tta: see `evaluate_run`.
        verbose: 1: progress bars for a large image folder (`fewlabels.progress`); 0 none.
        strategy: the devices that predict (`build_strategy`): every batch is split across
            them; in a multi-worker run every process calls this, and the chief writes `out`.
        unknown: write `unknown` as the class of an item that looks foreign: True for the
            run's score and threshold (`metrics.json`'s `open_set`: the energy of a
            network's logits, the largest class probability for the table ensemble, with
            the threshold set on its test rows so that 95% of known items stay above it),
            or a threshold in [0, 1] on the largest class probability.

    Returns:
        The number of rows predicted.
    """
    from fewlabels.estimators import load_estimator

    out = check_output_file(out, run_dir, data, kind="predictions")
    score = SCORE
    if unknown is True:
        score, unknown = run_threshold(run_dir)
    devices = build_strategy(strategy)  # a multi-worker run joins its cluster first
    with distributed(devices), shown(verbose):
        estimator = load_estimator(run_dir, trust_model=trust_model)
        threshold = check_unknown(unknown, estimator.classes_, score)
        return _predict_to(out, estimator, data, on_bad_image,
                           dict(label_column=label_column, delimiter=delimiter,
                                header=header, encoding=encoding), (tta, threshold, score))


def _predict_to(out, estimator, data, on_bad_image: str, table_read: dict,
                how: tuple = (False, None, SCORE)) -> int:
    """`predict_run`'s work once the model is loaded: the CSV of predictions, written.
    `how`: test-time augmentation, the threshold under which the class is `unknown`, and the
    score it applies to."""
    tta, threshold, score = how
    if len(estimator.input_shape_) == 3:
        key, batches = _image_batches(estimator, data, on_bad_image)
    else:
        table = load_table(data, **table_read, classes=estimator.classes_,
                           n_features=estimator.input_shape_[0])
        key, batches = "row", [([int(r) for r in table.rows], table.x)]
    counts = []

    def write(f) -> None:  # batch by batch: a pool of millions never sits in memory
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([key, "class", *(f"p_{c}" for c in estimator.classes_)])
        for names, x in batches:
            if threshold is not None and score != SCORE:  # one pass: logits, then both
                proba, scores = scored(estimator, x, score)
                proba = estimator.predict_proba(x, tta=True) if tta else proba
            else:
                proba = estimator.predict_proba(x, tta=tta)
                scores = known_scores(proba)
            known = np.ones(len(proba), bool) if threshold is None else scores >= threshold
            for name, p, is_known in zip(names, proba, known, strict=True):
                label = estimator.classes_[int(p.argmax())] if is_known else UNKNOWN
                writer.writerow([csv_cell(name), csv_cell(label), *(f"{v:.6f}" for v in p)])
            counts.append(len(x))

    if is_chief():
        write_atomic(out, write)
    else:  # a worker of a multi-worker run predicts its part of every batch; the chief writes
        with open(os.devnull, "w", encoding="utf-8") as f:
            write(f)
    return sum(counts)


def _image_read(estimator, data, on_bad_image: str) -> dict:
    """How to read images for a fitted model: its side (folders) and its channels."""
    side, _, channels = estimator.input_shape_
    return dict(image_size=side if Path(data).is_dir() else None, channels=channels,
                on_bad_image=on_bad_image)


def _image_batches(estimator, data, on_bad_image: str):
    """`(column name, iterable of (names, images))` for predicting images."""
    if not is_image_source(data):
        raise InputError(
            f"{data}: this model takes images of shape {estimator.input_shape_}; give a "
            "folder of images, an .npz file or a built-in image dataset."
        )
    read = _image_read(estimator, data, on_bad_image)
    if is_shard_dir(data):
        return "path", _shard_batches(data, read["image_size"], read["channels"])
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
        for images, _ in counted(stream, len(names), f"Predicting {len(names)} images",
                                 size=lambda batch: len(batch[0])):
            # Rounded to uint8 as at training time, so a file predicts the same either way.
            x = as_pixels(images)
            yield names[start:start + len(x)], x
            start += len(x)

    return "path", batches()


def _shard_batches(data, side: int, channels: int):
    """`(names, uint8 images)` of a shard directory, batch by batch, in its order."""
    import itertools

    pool = open_shards(data).decoded_as((side, side), channels)
    names = pool.names()
    for images in counted(pool.dataset(), len(pool), f"Predicting {len(pool)} images",
                          size=len):
        x = as_pixels(images)
        yield list(itertools.islice(names, len(x))), x




DEMO_FIXMATCH = {"budget": Budget(300, steps_per_epoch=50), "batch_size": 16, "uratio": 4}
"""The demo's FixMatch budget: 300 steps of 16 labeled and 64 unlabeled images."""


def demo(
    out: str | Path = "runs/demo",
    *,
    n_per_class: int = 5,
    seed: int = 0,
    self_training: bool = True,
    fixmatch: bool = True,
    overwrite: bool = False,
    verbose: int = 1,
    **params: Any,
) -> RunResult:
    """The demo: scikit-learn's digits with 5 labels per class, the rest unlabeled.

    20% of the digits (stratified, seeded) are the test split. From the rest, `n_per_class`
    rows per class keep their labels; every other row is unlabeled, its true label used only
    to report pseudo-label accuracy. The default for tables, the table ensemble, is compared
    with its members on the labels alone; self-training the MLP on the rows is compared with
    the supervised MLP (its run goes to `RUN_DIR/self-training/`); and FixMatch trains the
    compact CNN on the same digits as 8x8 images, with the same labels (`RUN_DIR/fixmatch/`).

    Args:
        out: the run directory.
        n_per_class: labels kept per class.
        seed: the seed of the splits and the training.
        self_training: also run self-training (and its supervised MLP) on the rows.
        fixmatch: also run FixMatch on the digits as images.
        overwrite: allow a non-empty run directory.
        verbose: 0 quiet; 1 one short line per epoch or stage; 2 Keras's own lines.
        **params: `TableEnsemble` parameters.

    Returns:
        A `RunResult`: the ensemble's run, with every row in `results` and `table`.
    """
    table = load_builtin("digits")
    x, y, classes = table.x, table.y, table.classes
    rest, test = stratified_split(y, 0.2, seed)
    y_partial, y_hidden = hide_labels(y[rest], n_per_class, seed)
    estimator = make_estimator(default_method(images=False), seed=seed, **params)
    config = {"data": "builtin:digits", "n_per_class": n_per_class,
              "test": "20% of digits, stratified"}
    result = run_experiment(
        x[rest], y_partial, classes, out=out, estimator=estimator, x_test=x[test],
        y_test=y[test], y_hidden=y_hidden, overwrite=overwrite, config=config, verbose=verbose,
    )
    result.results[0]["name"] = "supervised (linear + kernel members)"
    if self_training:
        rows_run = run_experiment(
            x[rest], y_partial, classes, out=Path(out) / "self-training",
            estimator=make_estimator("self-training", seed=seed), x_test=x[test],
            y_test=y[test], y_hidden=y_hidden, overwrite=overwrite,
            config={**config, "method": "self-training"}, verbose=verbose)
        rows = rows_run.results
        rows[0]["name"] = "supervised MLP"
        result.results.extend(rows)
    if fixmatch:
        result.results.extend(_demo_fixmatch(
            x, y, y_partial, y_hidden, rest, test, classes=classes, out=out, seed=seed,
            config=config, overwrite=overwrite, verbose=verbose))
    result.table = report.comparison_table(result.results)
    return result


def _demo_fixmatch(x, y, y_partial, y_hidden, rest, test, *, classes, out, seed, config,
                   overwrite, verbose) -> list[dict]:
    """The demo's FixMatch run on the digits as 8x8 images: its result rows."""
    from fewlabels.data.images import digits_as_images
    from fewlabels.estimators import ConsistencyTraining

    say(verbose, "== fixmatch (the digits as 8x8 images, compact CNN) ==")
    images = digits_as_images(x)
    ssl = ConsistencyTraining(method="fixmatch", seed=seed, **DEMO_FIXMATCH)
    images_run = run_experiment(
        images[rest], y_partial, classes, out=Path(out) / "fixmatch", estimator=ssl,
        x_test=images[test], y_test=y[test], y_hidden=y_hidden, baseline=False,
        overwrite=overwrite, config={**config, "data": "builtin:digits (8x8 images)"},
        verbose=verbose,
    )
    return [{**row, "name": "fixmatch (8x8 images, CNN)"} for row in images_run.results]
