"""Tests for streaming the unlabeled pool from disk: same batches as in memory, bounded reads."""

import json

import numpy as np
import pytest
from PIL import Image

from fewlabels import cli
from fewlabels.data.folders import scan_image_folder, unlabeled_files
from fewlabels.data.sources import load_images
from fewlabels.errors import FewLabelsError
from fewlabels.ssl_data import ssl_stream
from fewlabels.views.augment import build_policy


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """12 labeled gray 8x8 images in 3 class folders and 20 unlabeled ones, as PNG files."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("stream") / "data"
    images = rng.integers(0, 256, (32, 8, 8, 1)).astype(np.uint8)
    for i, image in enumerate(images):
        folder = f"c{i % 3}" if i < 12 else "unlabeled"
        path = root / folder / f"{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[:, :, 0]).save(path)
    return root


def in_memory_and_streamed(root):
    """The same folder read twice: everything decoded, and the unlabeled part as files."""
    full = load_images(root, image_size=8, channels=1)
    streamed = load_images(root, image_size=8, channels=1, stream_unlabeled=True)
    return full, streamed


def batches(stream, n=6):
    return [{k: v.numpy() for k, v in inputs.items()} for inputs, _ in stream.take(n)]


def test_a_streamed_pool_yields_exactly_the_batches_of_the_same_pool_in_memory(pool):
    full, streamed = in_memory_and_streamed(pool)
    assert len(streamed.x) == 12 and np.all(streamed.y >= 0)  # only the labels are decoded
    assert len(streamed.unlabeled_files) == 20 and streamed.unlabeled_files.shape == (8, 8, 1)
    views = dict(batch_size=4, uratio=2, seed=3)

    def policies():
        return dict(weak=build_policy("weak", seed=0), strong=build_policy("strong", seed=1))

    memory, n_memory = ssl_stream(full.x, full.y, **views, **policies())
    disk, n_disk = ssl_stream(streamed.x, streamed.y, **views, **policies(),
                              unlabeled_files=streamed.unlabeled_files)
    assert n_memory == n_disk == 20
    for a, b in zip(batches(memory), batches(disk), strict=True):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], atol=1e-3, err_msg=key)


def test_rows_in_memory_and_files_make_one_pool(pool):
    full, streamed = in_memory_and_streamed(pool)
    x_mem = np.concatenate([streamed.x, full.x[12:16]])  # 4 unlabeled rows in memory too
    y_mem = np.concatenate([streamed.y, np.full(4, -1)])
    stream, n = ssl_stream(x_mem, y_mem, batch_size=4, uratio=6,
                           unlabeled_files=streamed.unlabeled_files)
    assert n == 24
    everything = np.concatenate([full.x[12:16], full.x[12:]]).astype(np.float32)
    seen = set()
    for inputs in batches(stream, 8):
        np.testing.assert_allclose(inputs["weak"], everything[inputs["index"]], atol=1e-3)
        seen |= set(inputs["index"].tolist())
    assert seen == set(range(24))  # every image of both parts, one pass after another


def test_a_supervised_batch_carries_no_unlabeled_images_and_reads_no_file(pool, monkeypatch):
    _, streamed = in_memory_and_streamed(pool)
    import fewlabels.data.folders as folders

    def refuse(*args):
        raise AssertionError("a file was read for a batch without unlabeled images")

    monkeypatch.setattr(folders, "decode_file", refuse)
    stream, _ = ssl_stream(streamed.x, streamed.y, batch_size=4, uratio=2,
                           unlabeled_files=streamed.unlabeled_files, with_unlabeled=False)
    inputs = batches(stream, 2)[1]
    assert inputs["labeled"].shape[0] == 4
    assert inputs["weak"].shape[0] == inputs["strong"].shape[0] == inputs["index"].shape[0] == 0


def test_files_of_another_shape_and_non_folders_are_refused(pool, tmp_path):
    folder = scan_image_folder(pool)
    wrong = unlabeled_files(folder, (16, 16), 1)
    _, streamed = in_memory_and_streamed(pool)
    with pytest.raises(FewLabelsError, match=r"decoded to \(16, 16, 1\) but x's images are "
                                             r"\(8, 8, 1\)"):
        ssl_stream(streamed.x, streamed.y, unlabeled_files=wrong)
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 8, 8, 1), np.uint8), y=np.array([0, -1]))
    with pytest.raises(FewLabelsError, match="stream_unlabeled reads image folders"):
        load_images(tmp_path / "a.npz", stream_unlabeled=True)


def test_consistency_training_streams_the_pool_and_refuses_rows_and_hidden_labels(pool):
    from fewlabels.estimators.consistency import ConsistencyTraining

    _, streamed = in_memory_and_streamed(pool)
    fast = dict(steps=4, steps_per_epoch=2, batch_size=4, uratio=2, cnn_widths=(4,))
    model = ConsistencyTraining(method="fixmatch", **fast).fit(
        streamed.x, streamed.y, unlabeled_files=streamed.unlabeled_files)
    assert model.n_unlabeled_ == 20 and model.n_train_labeled_ == 12
    assert len(model.history_["mask_rate"]) == 2
    with pytest.raises(FewLabelsError, match="unlabeled_files are images; X holds feature rows"):
        ConsistencyTraining(**fast).fit(np.zeros((6, 3)), [0, 1, 0, 1, 0, 1],
                                        unlabeled_files=streamed.unlabeled_files)
    with pytest.raises(FewLabelsError, match="y_hidden cannot describe unlabeled_files"):
        ConsistencyTraining(**fast).fit(streamed.x, streamed.y, y_hidden=streamed.y,
                                        unlabeled_files=streamed.unlabeled_files)


def test_the_cli_streams_a_folder_for_consistency_methods_only(pool, tmp_path, capsys):
    out = tmp_path / "run"
    fast = ["--steps", "4", "--steps-per-epoch", "2", "--batch-size", "4", "--uratio", "2",
            "--cnn-widths", "4", "--image-size", "8", "--channels", "1", "--verbose", "0"]
    assert cli.main(["fit", str(pool), "--out", str(out), "--method", "fixmatch",
                     "--stream-unlabeled", *fast]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["stream_unlabeled"] is True
    history = json.loads((out / "history.json").read_text())
    assert len(history["epochs"]["mask_rate"]) == 2
    capsys.readouterr()
    assert cli.main(["fit", str(pool), "--out", str(tmp_path / "r2"), "--method",
                     "self-training", "--stream-unlabeled", "--image-size", "8"]) == 2
    assert "cannot stream unlabeled images from disk" in capsys.readouterr().err


def test_stream_unlabeled_on_a_table_is_refused_by_name(tmp_path):
    from fewlabels.workflow import fit_run

    table = tmp_path / "t.csv"
    table.write_text("1,2,0\n3,4,1\n5,6,-1\n")
    with pytest.raises(FewLabelsError, match="stream_unlabeled reads image folders; a table is "
                                             "read into memory"):
        fit_run(table, tmp_path / "run", method="fixmatch", stream_unlabeled=True)


def test_fully_labeled_images_train_supervised_without_an_unlabeled_pool(pool):
    from fewlabels.errors import FewLabelsWarning
    from fewlabels.estimators.consistency import ConsistencyTraining

    _, streamed = in_memory_and_streamed(pool)  # x: the 12 labeled images only
    with pytest.warns(FewLabelsWarning, match="no unlabeled samples: training a plain supervised"):
        model = ConsistencyTraining(method="fixmatch", steps=2, steps_per_epoch=2, batch_size=4,
                                    cnn_widths=(4,)).fit(streamed.x, streamed.y)
    assert model.n_unlabeled_ == 0 and model.n_train_labeled_ == 12
    assert model.history_record()["warnings"] == []
    assert model.predict(streamed.x).shape == (12,)


def test_pretraining_streams_the_pool_each_batch_drawn_from_memory_and_files(pool):
    from fewlabels.estimators.pretrain import _image_pairs, pretrain
    from fewlabels.estimators.specs import Network

    full, streamed = in_memory_and_streamed(pool)
    assert len(streamed.x) == 12 and len(streamed.unlabeled_files) == 20  # 20 stay files
    pairs = _image_pairs(np.asarray(streamed.x), 8, ("none", "none"), {}, 0,
                         streamed.unlabeled_files)
    every = {image.tobytes() for image in np.asarray(full.x, np.float32)}
    seen = set()
    for ((first, second),) in pairs.take(8):
        np.testing.assert_array_equal(first.numpy(), second.numpy())  # no view: the same
        seen |= {image.tobytes() for image in first.numpy()}
    assert seen <= every and len(seen) > 12  # files were read, and only the pool's images
    done = pretrain(streamed.x, network=Network("cnn", cnn_widths=(4,)), steps=10,
                    batch_size=8, unlabeled_files=streamed.unlabeled_files)
    assert done.steps == 10 and np.isfinite(done.losses).all()


def test_cli_pretrain_streams_a_folder_and_records_how_many_files(pool, tmp_path, capsys):
    body = tmp_path / "body.weights.h5"
    assert cli.main(["pretrain", str(pool), "--out", str(body), "--steps", "10",
                     "--batch-size", "8", "--cnn-widths", "4", "--image-size", "8",
                     "--channels", "1", "--stream-unlabeled", "--verbose", "0"]) == 0
    record = json.loads((tmp_path / "body.pretrain.json").read_text())
    assert record["items"] == 32 and record["streamed"] == 20
    assert record["read"]["stream_unlabeled"] is True


def test_pretraining_refuses_files_of_another_shape_than_the_images_in_memory(pool):
    from fewlabels.errors import InputError
    from fewlabels.estimators.pretrain import pretrain

    _, streamed = in_memory_and_streamed(pool)
    with pytest.raises(InputError, match=r"the unlabeled files are decoded to \(8, 8, 1\), "
                                         r"but the images in memory are \(9, 9, 1\)"):
        pretrain(np.zeros((4, 9, 9, 1), np.float32), steps=1, batch_size=2,
                 unlabeled_files=streamed.unlabeled_files)
