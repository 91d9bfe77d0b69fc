"""Tests for image arrays: built-in datasets, IDX and .npz reading, validation."""

import gzip

import numpy as np
import pytest

from fewlabels.data import images
from fewlabels.data.images import check_images, load_image_dataset, load_npz, read_idx
from fewlabels.errors import FewLabelsError


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fake_fashion_mnist(folder, n_train=5, n_test=3):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test) % 10,
    }
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return arrays


def test_read_idx_round_trips_and_names_corrupt_files(tmp_path):
    array = np.arange(24).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(FewLabelsError, match=r"short.gz: the header declares \(10,\).*truncated"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "bad").write_bytes(b"\x12\x34\x56\x78")
    with pytest.raises(FewLabelsError, match="bad magic number"):
        read_idx(tmp_path / "bad")


def test_fashion_mnist_is_read_from_keras_cache_before_debian(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    arrays = fake_fashion_mnist(tmp_path / "keras" / "datasets" / "fashion-mnist")
    data = load_image_dataset("fashion_mnist")
    assert "fashion-mnist" in data.source and "keras" in data.source
    assert data.x.shape == (5, 28, 28, 1) and data.x_test.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(data.x[..., 0], arrays["train-images-idx3-ubyte.gz"])
    assert data.classes[0] == "T-shirt/top"


def test_missing_datasets_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(images, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(FewLabelsError, match=r"Fashion-MNIST was not found.*apt-get install "
                                             r"dataset-fashion-mnist"):
        load_image_dataset("fashion_mnist")
    with pytest.raises(FewLabelsError, match=r"MNIST was not found.*mnist.load_data"):
        load_image_dataset("mnist")
    with pytest.raises(FewLabelsError, match="unknown image dataset 'cifar'"):
        load_image_dataset("cifar")


def test_mnist_npz_from_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=np.zeros((4, 28, 28), np.uint8),
             y_train=np.arange(4), x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.arange(2))
    data = load_image_dataset("mnist")
    assert data.x.shape == (4, 28, 28, 1) and data.classes == [str(i) for i in range(10)]


def test_real_fashion_mnist_when_installed():
    if not all((images.DEBIAN_FASHION_MNIST / f).is_file() for f in images.FASHION_MNIST_FILES):
        pytest.skip("dataset-fashion-mnist is not installed (.ci/run installs it)")
    data = load_image_dataset("fashion_mnist", search_dirs=[images.DEBIAN_FASHION_MNIST])
    assert data.x.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(data.y).tolist() == [6000] * 10
    assert data.y[:5].tolist() == [9, 0, 0, 3, 0]


def test_digits_as_images():
    data = load_image_dataset("digits")
    assert data.x.shape[1:] == (8, 8, 1) and data.x.dtype == np.uint8
    assert len(data.x) + len(data.x_test) == 1797
    assert data.x.max() == 255


def test_npz_reads_x_y_classes_and_refuses_pickled_arrays(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, -1, 1]),
             classes=np.array(["cat", "dog"]))
    x, y, classes = load_npz(path)
    assert x.shape == (3, 4, 4, 1) and y.tolist() == [0, -1, 1] and classes == ["cat", "dog"]
    np.savez(tmp_path / "noy.npz", x=np.zeros((2, 4, 4, 3), np.uint8))
    assert load_npz(tmp_path / "noy.npz")[1].tolist() == [-1, -1]
    np.savez(tmp_path / "obj.npz", x=np.array([object()], dtype=object))
    with pytest.raises(FewLabelsError, match="cannot read it without pickle"):
        load_npz(tmp_path / "obj.npz")
    np.savez(tmp_path / "nox.npz", y=np.arange(3))
    with pytest.raises(FewLabelsError, match=r"missing array\(s\) \['x'\]"):
        load_npz(tmp_path / "nox.npz")


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((2, 4)), [0, 1], "must be shaped"),
        (np.zeros((2, 4, 4, 5)), [0, 1], "1-4 channels"),
        (np.full((2, 4, 4), 300.0), [0, 1], r"lie in \[0, 1\] or \[0, 255\]"),
        (np.full((2, 4, 4), np.nan), [0, 1], "NaN or inf"),
        (np.zeros((2, 4, 4)), [0], "2 images but labels of shape"),
        (np.zeros((2, 4, 4)), [0, -2], "integers >= 0, or -1"),
    ],
)
def test_check_images_names_the_problem(x, y, message):
    with pytest.raises(FewLabelsError, match=message):
        check_images(x, np.asarray(y))


def test_check_images_scales_unit_floats():
    x, _ = check_images(np.full((1, 2, 2), 0.5), np.array([0]))
    assert x.dtype == np.uint8 and x.max() == 128


def _npz_with_member(path, name, shape, dtype, fill_bytes, compress=True):
    """An .npz whose member `name` declares `shape` and holds `fill_bytes` zero bytes."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with (zipfile.ZipFile(path, "w", compression=mode) as archive,
          archive.open(name + ".npy", "w", force_zip64=True) as member):
        member.write(header.getvalue())
        block = bytes(64 << 20)
        for start in range(0, fill_bytes, len(block)):
            member.write(block[: min(len(block), fill_bytes - start)])
    return path


def test_an_npz_declaring_a_terabyte_is_refused_from_its_header(tmp_path):
    path = _npz_with_member(tmp_path / "huge.npz", "x", (1 << 40,), "uint8", 16)
    with pytest.raises(FewLabelsError, match=r"array 'x.npy' declares 1,099,511,627,776 "
                                             "bytes"):
        load_npz(path)


def test_a_compressed_npz_bomb_is_refused_in_bounded_memory(tmp_path):
    import subprocess
    import sys

    n = 3 << 29  # 1.5 GiB of zero pixels, a few MB packed
    path = _npz_with_member(tmp_path / "bomb.npz", "x", (n // 64, 8, 8), "uint8", n)
    assert path.stat().st_size < 16 << 20
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from fewlabels.data.images import load_npz\n"
            f"load_npz({str(path)!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert "(a decompression bomb); refused" in done.stderr, done.stderr[-500:]


def test_npz_labels_and_class_names_are_checked(tmp_path):
    x = np.zeros((3, 4, 4), np.uint8)
    np.savez(tmp_path / "big_label.npz", x=x, y=np.array([0, 1, 10**9]))
    with pytest.raises(FewLabelsError, match="label 1000000000 is not a class index"):
        load_npz(tmp_path / "big_label.npz")
    np.savez(tmp_path / "twice.npz", x=x, y=np.array([0, 1, 2]),
             classes=np.array(["cat", "dog", "cat"]))
    with pytest.raises(FewLabelsError, match=r"class names \['cat'\] appear more than once"):
        load_npz(tmp_path / "twice.npz")
    np.savez(tmp_path / "unnamed.npz", x=x, y=np.array([0, 1, 2]),
             classes=np.array(["cat", "dog"]))
    with pytest.raises(FewLabelsError, match="label 2 has no name: 'classes' lists 2"):
        load_npz(tmp_path / "unnamed.npz")


def test_a_text_file_named_npz_is_not_called_pickled(tmp_path):
    (tmp_path / "notes.npz").write_text("hello")
    with pytest.raises(FewLabelsError, match=r"not an \.npz file \(an \.npz is a zip archive"):
        load_npz(tmp_path / "notes.npz")
