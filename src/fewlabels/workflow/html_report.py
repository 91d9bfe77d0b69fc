"""A run's report as one self-contained HTML page: `RUN_DIR/report.html`.

Every `fit` writes it, and `fewlabels report RUN_DIR` writes it again. The page needs no
network: its figures are PNG images drawn with matplotlib and embedded in the page. It
shows the test results of the method beside its supervised baseline, the learning curves
(losses, accuracy, mask rate, per-class pseudo-label shares, pseudo-label accuracy where the
hidden labels are known), self-training's rounds, for image runs the most confident, most
uncertain and misclassified test images and the augmentations training applied to them,
each model's confusion matrix, per-class precision and recall, and a reliability diagram with
the expected calibration error.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from fewlabels.data.folders import as_pixels
from fewlabels.errors import InputError
from fewlabels.files import inside, read_json, write_text
from fewlabels.workflow.reporting import history_series
from fewlabels.workflow.rundir import HISTORY_FILE, METRICS_FILE

REPORT_FILE = "report.html"
EXAMPLES_FILE = "examples.npz"
"""Test images an image run shows in its report: the most confident, the most uncertain and
the misclassified, and a few under each augmentation training applied (`save_examples`)."""
PER_GROUP = 8

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5em; } img { max-width: 100%; }
.note { color: #666; font-size: 0.9em; }
"""
_COUNT_FIGURES = """
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-figures", String(images.length));
  document.body.setAttribute("data-figures-loaded", String(loaded.length));
});
"""


def write_report(run_dir: str | Path) -> Path:
    """Write `RUN_DIR/report.html` from the run's metrics, history and config.

    Args:
        run_dir: a directory written by `fit_run`.

    Returns:
        The report's path.

    Example:
    ```python
    write_report("runs/demo")   # open runs/demo/report.html in a browser
    ```
    """
    run_dir = Path(run_dir)
    if not (run_dir / METRICS_FILE).is_file():
        raise InputError(f"{run_dir}: no {METRICS_FILE}; is it a finished run directory?")
    metrics = read_json(run_dir / METRICS_FILE)
    history = read_json(run_dir / HISTORY_FILE) if (run_dir / HISTORY_FILE).is_file() else {}
    config = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    results = metrics.get("results", [])
    with _plain_text():
        sections = _sections(run_dir, config, metrics, history, results)
    title = f"fewlabels run: {html.escape(str(config.get('method', run_dir.name)))}"
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style><script>{_COUNT_FIGURES}</script></head><body>"
            f"<h1>{title}</h1>{''.join(sections)}</body></html>\n")
    path = inside(run_dir, REPORT_FILE)
    write_text(path, page)
    return path


def _plain_text():
    """Figures' text as plain text: a `$` in a class name is a dollar sign, not mathtext
    (which would fail on an odd number of them)."""
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False, "text.usetex": False})


def _sections(run_dir: Path, config: dict, metrics: dict, history: dict,
              results: list[dict]) -> list[str]:
    """The report's sections, in order, as HTML."""
    sections = [_summary(config, metrics), _results_table(results)]
    sections += _curves(history)
    sections += _rounds(history)
    sections += _example_grids(run_dir)
    sections += _suspected(run_dir, metrics.get("open_set"))
    # One figure per trained model: an ensemble's member rows are parts of the final model.
    models = [r for r in results if r.get("stage", "final") in ("final", "before_finetune")]
    sections += [_figure_section("Confusion matrices (rows: true class, columns: predicted)",
                                 [_confusion(r) for r in models]),
                 _figure_section("Per-class precision and recall",
                                 [_per_class(r) for r in models]),
                 _figure_section("Reliability (confidence against accuracy on the test data)",
                                 [_reliability(results)] if results else [])]
    return sections


def save_examples(run_dir: str | Path, estimator, x_test, y_test) -> Path | None:
    """Keep the test images an image run's report shows, in `RUN_DIR/examples.npz`.

    Args:
        run_dir: the run directory.
        estimator: the fitted estimator.
        x_test, y_test: the test images and their class indices.

    Returns:
        The file written, or None for a table run or no test data.
    """
    import numpy as np

    from fewlabels.files import write_atomic

    if x_test is None or y_test is None or len(y_test) == 0 or np.ndim(x_test) != 4:
        return None
    proba = estimator.predict_proba(x_test)
    pred, confidence = proba.argmax(axis=1), proba.max(axis=1)
    wrong = np.flatnonzero(pred != y_test)
    groups = {"most confident": np.argsort(-confidence)[:PER_GROUP],
              "most uncertain": np.argsort(confidence)[:PER_GROUP],
              "misclassified": wrong[np.argsort(-confidence[wrong])][:PER_GROUP]}
    rows = np.concatenate(list(groups.values())).astype(np.int64)
    arrays = {"images": np.asarray(x_test)[rows].astype(np.uint8),
              "true": np.asarray(y_test)[rows].astype(np.int64), "pred": pred[rows],
              "confidence": confidence[rows].astype(np.float32),
              "group": np.repeat(np.arange(len(groups)), [len(g) for g in groups.values()]),
              **_view_examples(estimator, np.asarray(x_test))}
    path = inside(Path(run_dir), EXAMPLES_FILE)
    write_atomic(path, lambda f: np.savez(f, **arrays), binary=True)
    return path


def _view_examples(estimator, x_test) -> dict:
    """`view_images` `(1 + 2 * n_views, k, h, w, c)`: k test images, then two draws of each
    augmentation training applied (`estimator.training_views`), and `view_names`."""
    import keras
    import numpy as np

    views = estimator.training_views(x_test)
    if not views:
        return {}
    originals = x_test[np.linspace(0, len(x_test) - 1, min(PER_GROUP, len(x_test))).astype(int)]
    batch = originals.astype(np.float32)
    grid, names = [batch], ["original"]
    for name, layer in views:
        for draw in (1, 2):
            grid.append(keras.ops.convert_to_numpy(layer(batch, training=True)))
            names.append(f"{name} {draw}")
    return {"view_images": as_pixels(np.stack(grid)),
            "view_names": np.array(names)}


def _view_grid(arrays: dict, plt) -> list[str]:
    """The augmentation preview: one row of test images, then the views training saw."""
    if "view_images" not in arrays:
        return []
    grid, names = arrays["view_images"], arrays["view_names"]
    fig, axes = plt.subplots(len(grid), grid.shape[1], squeeze=False,
                             figsize=(1.1 * grid.shape[1], 1.15 * len(grid)))
    for r, row in enumerate(grid):
        for c, image in enumerate(row):
            axes[r][c].imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray",
                              vmin=0, vmax=255, interpolation="nearest")
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
        axes[r][0].set_ylabel(str(names[r]), fontsize=7)
    return [_figure_section("Augmentation: what training saw (first row: test images)",
                            [_png(fig)])]


def _example_grids(run_dir: Path) -> list[str]:
    import numpy as np

    path = run_dir / EXAMPLES_FILE
    if not path.is_file():
        return []
    classes = read_json(run_dir / "classes.json") if (run_dir / "classes.json").is_file() \
        else None
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    plt = _pyplot()
    images = []
    for g, title in enumerate(("most confident", "most uncertain", "misclassified")):
        rows = np.flatnonzero(arrays["group"] == g)
        if not len(rows):
            continue
        fig, axes = plt.subplots(1, len(rows), figsize=(1.3 * len(rows), 1.8), squeeze=False)
        for ax, i in zip(axes[0], rows, strict=True):
            image = arrays["images"][i]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray",
                      vmin=0, vmax=255)
            true, pred = (classes[arrays["true"][i]], classes[arrays["pred"][i]]) if classes \
                else (arrays["true"][i], arrays["pred"][i])
            ax.set_title(f"{true} / {pred}\n{arrays['confidence'][i]:.2f}", fontsize=7)
            ax.axis("off")
        fig.suptitle(title, fontsize=9)
        images.append(_png(fig))
    return [_figure_section("Test images (true / predicted, confidence)", images),
            *_view_grid(arrays, plt)]


def _suspected(run_dir: Path, record: dict | None) -> list[str]:
    """The unlabeled items that look foreign to the known classes (`workflow.open_set`): the
    threshold, how many, the least known of them, and their images for an image run."""
    import numpy as np

    if not isinstance(record, dict) or "threshold" not in record \
            or not (record.get("pool") or record.get("not_scored")):
        return []  # no unlabeled item: nothing to suspect
    note = (f"{record['suspected']} of the {record['pool']} unlabeled items score below "
            f"{record['threshold']:.4f}, the {record['score']} that "
            f"{record['known_recall']:.0%} of the {record['threshold_from']} reach: they may "
            f"belong to none of the classes (or be hard cases). All of them: "
            f"{record['file']}.")
    if record.get("advice"):
        note += f" {record['advice']}"
    if record.get("not_scored"):
        note += (f" The {record['not_scored']} images streamed from disk were not scored: "
                 "fewlabels predict RUN FOLDER --unknown scores a folder of any size.")
    rows = "".join(f"<tr><td>{html.escape(str(r['item']))}</td><td>{r['score']:.4f}</td>"
                   f"<td>{html.escape(str(r['predicted']))}</td></tr>"
                   for r in record.get("shown", []))
    table = (f"<table><tr><th>{html.escape(record['key'])}</th><th>score</th>"
             f"<th>predicted</th></tr>{rows}</table>") if rows else ""
    section = [f"<h2>Suspected foreign items</h2><p class='note'>{html.escape(note)}</p>"
               f"{table}"]
    path = run_dir / "suspected.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            images, scores = data["images"], data["scores"]
        plt = _pyplot()
        fig, axes = plt.subplots(1, len(images), figsize=(1.3 * len(images), 1.6),
                                 squeeze=False)
        for ax, image, score in zip(axes[0], images, scores, strict=True):
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray",
                      vmin=0, vmax=255)
            ax.set_title(f"{score:.2f}", fontsize=7)
            ax.axis("off")
        section.append(_figure_section("The least known unlabeled images (score)",
                                       [_png(fig)]))
    return section


def _summary(config: dict, metrics: dict) -> str:
    rows = [("data", config.get("data")), ("method", config.get("method")),
            ("test", f"{metrics.get('test', {}).get('source')} "
                     f"({metrics.get('test', {}).get('n')} rows)"),
            ("fewlabels", metrics.get("fewlabels_version"))]
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows if v is not None)
    return f"<table>{body}</table>"


def _results_table(results: list[dict]) -> str:
    if not results:
        return "<p class='note'>No test rows: the run reports validation scores only.</p>"
    head = ("<tr><th>model</th><th>accuracy</th><th>macro-F1</th><th>loss</th>"
            "<th>ECE</th><th>labeled</th><th>pseudo-labeled</th><th>time s</th></tr>")
    rows = []
    for r in results:
        m = r["metrics"]
        ece = m.get("calibration", {}).get("ece")
        rows.append(
            f"<tr><td>{html.escape(r['name'])}</td><td>{m['accuracy']:.4f}</td>"
            f"<td>{m['macro_f1']:.4f}</td><td>{m['loss']:.4f}</td>"
            f"<td>{'' if ece is None else f'{ece:.3f}'}</td><td>{r.get('labeled', '')}</td>"
            f"<td>{r.get('pseudo_labeled', '')}</td><td>{r.get('wall_s', '')}</td></tr>")
    return f"<h2>Test results</h2><table>{head}{''.join(rows)}</table>"


def _figure_section(title: str, images: list[str | None]) -> str:
    figures = "".join(f"<figure><img alt='{html.escape(title)}' src='{src}'></figure>"
                      for src in images if src)
    return f"<h2>{html.escape(title)}</h2>{figures}" if figures else ""


def _png(fig) -> str:
    """A matplotlib figure as an inline `data:` URL (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curves(history: dict) -> list[str]:
    series = history_series(history)
    if not series:
        return []
    plt = _pyplot()
    panels = [("loss", [k for k in series if k.endswith("loss")]),
              ("accuracy", [k for k in series if "accuracy" in k]),
              ("mask rate", [k for k in series if k == "mask_rate"]),
              ("pseudo-label share per class", [k for k in series if k.startswith("share_")])]
    images = []
    for title, keys in panels:
        if not keys:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for key in keys:
            ax.plot(range(1, len(series[key]) + 1), series[key], label=key)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend(fontsize=7)
        images.append(_png(fig))
    return [_figure_section("Learning curves", images)]


def _rounds(history: dict) -> list[str]:
    rounds = history.get("rounds") or []
    if not rounds:
        return []
    head = ("<tr><th>round</th><th>accepted</th><th>mean confidence</th>"
            "<th>pseudo-label accuracy</th><th>validation accuracy</th></tr>")
    rows = "".join(
        f"<tr><td>{r['round']}</td><td>{r['accepted']}</td><td>{r['mean_confidence']:.3f}</td>"
        f"<td>{_fmt(r.get('pseudo_label_accuracy'))}</td>"
        f"<td>{_fmt((r.get('validation') or {}).get('accuracy'))}</td></tr>" for r in rounds)
    return [f"<h2>Self-training rounds</h2><table>{head}{rows}</table>"
            f"<p class='note'>Stopped: {html.escape(str(history.get('termination_condition')))}"
            "</p>"]


def _fmt(value) -> str:
    return "" if value is None else f"{value:.3f}"


NAMED_CLASSES = 40
"""Up to this many classes a figure writes every class name and every confusion count; with
more, the confusion matrix is drawn as an image alone and figures keep a bounded size."""
MAX_INCHES = 12.0


def _confusion(result: dict) -> str:
    plt = _pyplot()
    matrix = result["metrics"]["confusion_matrix"]
    names = list(result["metrics"]["per_class"])
    size = min(MAX_INCHES, max(3.0, 0.45 * len(names) + 1.5))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    if len(names) > NAMED_CLASSES:  # an image: per-cell text would not be readable
        ax.set_xlabel(f"{len(names)} classes, in classes.json order")
        ax.set_title(result["name"], fontsize=9)
        return _png(fig)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_title(result["name"], fontsize=9)
    return _png(fig)


def _per_class(result: dict) -> str:
    plt = _pyplot()
    per_class = result["metrics"]["per_class"]
    names = list(per_class)
    fig, ax = plt.subplots(figsize=(min(MAX_INCHES, max(4.0, 0.4 * len(names) + 2)), 3))
    positions = range(len(names))
    ax.bar([p - 0.2 for p in positions], [per_class[n]["precision"] for n in names], 0.4,
           label="precision")
    ax.bar([p + 0.2 for p in positions], [per_class[n]["recall"] for n in names], 0.4,
           label="recall")
    if len(names) <= NAMED_CLASSES:
        ax.set_xticks(list(positions), names, rotation=90, fontsize=7)
    else:
        ax.set_xlabel(f"{len(names)} classes, in classes.json order")
    ax.set_ylim(0, 1)
    ax.set_title(result["name"], fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def _reliability(results: list[dict]) -> str | None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    drawn = False
    for result in results:
        calibration = result["metrics"].get("calibration")
        if not calibration or not calibration["bins"]:
            continue
        bins = calibration["bins"]
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o",
                label=f"{result['name']} (ECE {calibration['ece']:.3f})")
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7)
    return _png(fig)
