"""Shard directories: written from a checked folder, read by position, the same as the folder."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from fewlabels import cli
from fewlabels.data.shards import INDEX, MANIFEST, ShardWriter, open_shards, write_folder_shards
from fewlabels.data.sources import load_images
from fewlabels.errors import FewLabelsError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two classes of 12x12 gray PNGs (8 labeled each) and 44 unlabeled ones."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(60):
        cls = ["bright", "dark"][i % 2]
        where = root / (cls if i < 16 else "unlabeled")
        where.mkdir(exist_ok=True)
        pixels = rng.random((12, 12)) * 80 + (150 if cls == "bright" else 0)
        Image.fromarray(pixels.astype(np.uint8)).save(where / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def shards(folder, tmp_path_factory):
    return write_folder_shards(folder, tmp_path_factory.mktemp("s") / "shards", shard_size=25)


def test_shards_hold_every_file_as_it_is_with_its_name_and_class(folder, shards):
    pool = open_shards(shards)
    assert len(pool) == 60 and pool.classes == ["bright", "dark"]
    assert len(pool.files) == 3  # 25 + 25 + 10
    names = list(pool.names())
    for i, name in enumerate(names):
        assert pool.read(i) == (folder / name).read_bytes()
        expected = -1 if name.startswith("unlabeled/") else pool.classes.index(name.split("/")[0])
        assert pool.y[i] == expected


@pytest.mark.parametrize("stream", [False, True])
def test_a_shard_directory_loads_as_its_folder_does(folder, shards, stream):
    a = load_images(folder, image_size=12, channels=1, stream_unlabeled=stream)
    b = load_images(shards, image_size=12, channels=1, stream_unlabeled=stream)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert [n.split("/")[-2:] for n in a.names] == [n.split("/")[-2:] for n in b.names]
    if stream:
        assert len(b.unlabeled_files) == len(a.unlabeled_files) == 44
        assert b.unlabeled_files.shape == (12, 12, 1)


def test_a_broken_index_or_shard_is_refused_naming_the_image(shards, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(shards, bad)
    with np.load(bad / INDEX) as index:
        arrays = {k: index[k].copy() for k in index.files}
    arrays["offset"][7] = 10**9
    np.savez(bad / INDEX, **arrays)
    with pytest.raises(FewLabelsError, match=r"image 7 \(shard 0, offset 1000000000"):
        open_shards(bad)
    manifest = json.loads((shards / MANIFEST).read_text())
    (bad / MANIFEST).write_text(json.dumps({**manifest, "format": "other"}))
    with pytest.raises(FewLabelsError, match="not a readable shard directory"):
        open_shards(bad)
    (bad / MANIFEST).write_text(json.dumps({**manifest, "shards": [{"file": "../x.tar"}]}))
    with pytest.raises(FewLabelsError, match="missing or not a plain file name"):
        open_shards(bad)


def test_the_writer_refuses_a_folder_with_files_and_a_label_out_of_range(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FewLabelsError, match="not an empty folder"):
        ShardWriter(tmp_path / "full", ["a"])
    with pytest.raises(FewLabelsError, match="label 3 is not -1 or a class index"):
        ShardWriter(tmp_path / "new", ["a"]).add("x.png", b"...", 3)


def test_cli_shards_a_folder_then_fits_streaming_and_predicts_as_from_the_folder(
        folder, tmp_path, capsys):
    out = tmp_path / "shards"
    assert cli.main(["shard", str(folder), "--out", str(out), "--shard-size", "16"]) == 0
    assert "Wrote 60 images (16 labeled) in 4 shards" in capsys.readouterr().out
    fit = ["--method", "fixmatch", "--image-size", "12", "--channels", "1", "--model", "cnn",
           "--stream-unlabeled", "--steps", "12", "--batch-size", "4", "--uratio", "2",
           "--no-baseline", "--seed", "0", "--verbose", "0"]
    runs = {}
    for name, data in (("folder", folder), ("shards", out)):
        runs[name] = tmp_path / f"run-{name}"
        assert cli.main(["fit", str(data), "--out", str(runs[name]), *fit]) == 0
    history = {k: json.loads((v / "history.json").read_text())["epochs"]["loss"]
               for k, v in runs.items()}
    np.testing.assert_allclose(history["shards"], history["folder"], rtol=1e-5)
    predicted = {}
    for name, data in (("folder", folder), ("shards", out)):
        target = tmp_path / f"{name}.csv"
        assert cli.main(["predict", str(runs["shards"]), str(data), "--out", str(target),
                         "--verbose", "0"]) == 0
        with open(target) as f:
            predicted[name] = {"/".join(r["path"].split("/")[-2:]): r for r in csv.DictReader(f)}
    assert len(predicted["shards"]) == 60
    assert predicted["shards"].keys() == predicted["folder"].keys()
    for key, row in predicted["shards"].items():
        assert row["class"] == predicted["folder"][key]["class"]
        assert float(row["p_bright"]) == pytest.approx(float(predicted["folder"][key]["p_bright"]),
                                                       abs=1e-5)


def test_a_shard_cut_short_after_it_was_indexed_is_named(shards, tmp_path):
    import shutil

    cut = tmp_path / "cut"
    shutil.copytree(shards, cut)
    pool = open_shards(cut)
    last = pool.files[-1]
    data = (cut / last).read_bytes()
    (cut / last).write_bytes(data[: int(pool.offset[-1]) + 10])
    with pytest.raises(FewLabelsError, match=r"past its end; the shard is truncated"):
        pool.read(len(pool) - 1)
    with pytest.raises(FewLabelsError, match=r"image 59 .* lies outside its shard"):
        open_shards(cut)
