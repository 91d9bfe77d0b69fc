"""Every fit writes a self-contained report.html, and a real browser shows its figures."""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from fewlabels import cli

FIXMATCH = ["--method", "fixmatch", "--steps", "40", "--steps-per-epoch", "10",
            "--hidden-units", "8", "--threshold", "0.5", "--verbose", "0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    y = np.where(x[:, 0] > 0, "pos", "neg").astype(object)
    y[40:] = "?"  # unlabeled
    path = root / "data.csv"
    path.write_text("".join(",".join(f"{v:.4f}" for v in row) + f",{label}\n"
                            for row, label in zip(x, y, strict=True)))
    assert cli.main(["fit", str(path), "--out", str(root / "run"), *FIXMATCH]) == 0
    return root / "run"


def test_fit_writes_a_self_contained_report_with_every_figure(run):
    page = (run / "report.html").read_text()
    sources = re.findall(r"<img alt='([^']*)' src='([^']*)'", page)
    assert all(src.startswith("data:image/png;base64,") for _, src in sources)
    titles = [title for title, _ in sources]
    # loss, mask rate, class shares; no accuracy: no validation split, no hidden labels
    assert titles.count("Learning curves") == 3
    assert titles.count("Confusion matrices (rows: true class, columns: predicted)") == 2
    assert titles.count("Per-class precision and recall") == 2
    assert any(t.startswith("Reliability") for t in titles)
    assert "supervised baseline" in page and "fixmatch" in page
    assert "http://" not in page and "https://" not in page  # no network needed


def test_the_report_command_writes_it_again(run):
    (run / "report.html").unlink()
    assert cli.main(["report", str(run)]) == 0
    assert (run / "report.html").stat().st_size > 10_000


def test_a_headless_chromium_loads_the_report_with_its_figures(run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (.ci/run); it is missing")
        pytest.skip("no chromium here; .ci/run installs it for CI")
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path}", "--virtual-time-budget=10000",
         "--dump-dom", (run / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", done.stdout)
    assert body, done.stderr[-500:]
    total = int(re.search(r'data-figures="(\d+)"', body.group()).group(1))
    loaded = int(re.search(r'data-figures-loaded="(\d+)"', body.group()).group(1))
    assert total >= 7 and loaded == total


def test_tensorboard_logs_hold_every_per_epoch_metric_of_both_models(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 3))
    y = np.where(x[:, 0] > 0, "pos", "neg").astype(object)
    y[30:] = "?"
    path = tmp_path / "data.csv"
    path.write_text("".join(",".join(f"{v:.4f}" for v in row) + f",{label}\n"
                            for row, label in zip(x, y, strict=True)))
    logs = tmp_path / "tb"
    assert cli.main(["fit", str(path), "--out", str(tmp_path / "run"), *FIXMATCH,
                     "--tensorboard", str(logs)]) == 0
    for model, expected in (("fixmatch", {"loss", "sup_loss", "unsup_loss", "mask_rate",
                                          "share_0", "share_1"}),
                            ("supervised baseline", {"loss", "sup_loss"})):
        events = EventAccumulator(str(logs / model))
        events.Reload()
        tags = set(events.Tags()["tensors"]) | set(events.Tags()["scalars"])
        assert expected <= tags, (model, tags)
        steps = [e.step for e in (events.Tensors("loss") if "loss" in events.Tags()["tensors"]
                                  else events.Scalars("loss"))]
        assert steps == [1, 2, 3, 4]  # 40 steps, 10 per epoch


def test_an_image_run_shows_confident_uncertain_and_misclassified_test_images(tmp_path):
    from fewlabels.data.images import load_image_dataset

    digits = load_image_dataset("digits")
    # 80 unlabeled images, the last 60 of them the test images: the 5% of those below the
    # threshold (set on the test images) are sure to be suspected, whatever the score
    x = np.concatenate([digits.x[:140], digits.x_test[:60]])
    y = np.where(np.arange(200) < 120, np.concatenate([digits.y[:140], digits.y_test[:60]]),
                 -1)
    np.savez(tmp_path / "d.npz", x=x, y=y, classes=np.array(digits.classes))
    np.savez(tmp_path / "t.npz", x=digits.x_test[:60], y=digits.y_test[:60],
             classes=np.array(digits.classes))
    run = tmp_path / "run"
    assert cli.main(["fit", str(tmp_path / "d.npz"), "--test", str(tmp_path / "t.npz"),
                     "--out", str(run), "--method", "supervised", "--epochs", "2",
                     "--min-steps", "0", "--cnn-widths", "4", "--augment", "classic",
                     "--no-horizontal-flip", "--verbose", "0"]) == 0
    with np.load(run / "examples.npz") as examples:
        assert examples["images"].shape[1:] == (8, 8, 1)
        assert set(examples["group"].tolist()) >= {0, 1}
        wrong = examples["group"] == 2
        assert np.all(examples["true"][wrong] != examples["pred"][wrong])
        views = examples["view_images"]
        assert examples["view_names"].tolist() == ["original", "augment=classic 1",
                                                   "augment=classic 2"]
        assert views.shape == (3, 8, 8, 8, 1) and not np.array_equal(views[0], views[1])
    page = (run / "report.html").read_text()
    titles = re.findall(r"<img alt='([^']*)'", page)
    assert titles.count("Test images (true / predicted, confidence)") >= 2
    assert titles.count("Augmentation: what training saw (first row: test images)") == 1
    # the unlabeled images that score lowest: the least known, with their scores
    record = json.loads((run / "metrics.json").read_text())["open_set"]
    assert record["pool"] == 80 and record["key"] == "index" and record["suspected"] >= 1
    assert record["score"] == "energy"  # a network's
    with np.load(run / "suspected.npz") as suspected:
        assert suspected["images"].shape[1:] == (8, 8, 1)
        assert len(suspected["images"]) == min(8, record["suspected"])
        assert np.all(np.diff(suspected["scores"]) >= 0)
    assert titles.count("The least known unlabeled images (score)") == 1


def test_consistency_training_pictures_its_weak_and_strong_views():
    from fewlabels.estimators.consistency import ConsistencyTraining

    images = np.zeros((4, 8, 8, 1), np.uint8)
    views = ConsistencyTraining(method="fixmatch").training_views(images)
    assert [name for name, _ in views] == ["weak view", "strong view"]
    assert ConsistencyTraining().training_views(np.zeros((4, 3))) == []  # rows: none


def _metrics_run(folder, names):
    """A run directory holding only a metrics.json over `names` (what the report reads)."""
    import json

    n = len(names)
    matrix = np.eye(n, dtype=int).tolist()
    per_class = {name: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
                 for name in names}
    result = {"name": "model", "stage": "final",
              "metrics": {"accuracy": 1.0, "macro_f1": 1.0, "loss": 0.0,
                          "confusion_matrix": matrix, "per_class": per_class}}
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"results": [result]}))
    return folder


def test_class_names_with_dollar_signs_are_plain_text_in_the_figures(tmp_path):
    from fewlabels.workflow.html_report import write_report

    run = _metrics_run(tmp_path / "run", ["$5", "$x_$", "${$", r"$\foo$"])
    page = write_report(run).read_text()  # mathtext would raise on the odd '$'
    assert page.count("data:image/png;base64,") == 2  # the confusion matrix, per class


def test_a_thousand_classes_draw_one_image_in_bounded_time(tmp_path):
    import time

    from fewlabels.workflow.html_report import write_report

    run = _metrics_run(tmp_path / "run", [f"c{i}" for i in range(1000)])
    start = time.perf_counter()
    page = write_report(run).read_text()
    assert time.perf_counter() - start < 60  # a million cell texts would take many minutes
    assert len(page) < 5_000_000  # 12-inch figures at most


def test_a_report_failure_warns_and_leaves_the_finished_run(tmp_path, monkeypatch):
    from fewlabels import FewLabelsWarning
    from fewlabels.workflow import experiment

    def broken(out):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(experiment, "write_report", broken)
    with pytest.warns(FewLabelsWarning, match="the run is complete, but its report could not"):
        experiment._report_or_warn(tmp_path)
