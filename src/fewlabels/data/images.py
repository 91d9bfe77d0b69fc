"""Image datasets as arrays: built-in datasets, `.npz` files and NumPy arrays.

Images are `uint8` arrays shaped `(n, height, width, channels)`; labels are class indices with
-1 for unlabeled images, as everywhere in fewlabels.

Built-in datasets, all readable offline:

- `digits`: scikit-learn's 1,797 8x8 digits (shipped with scikit-learn), scaled to 0..255;
  the test split is a stratified, seeded 20% (`stratified_split(y, 0.2, seed=0)`).
- `fashion_mnist`: 70,000 28x28 images. Read from Keras's dataset cache
  (`$KERAS_HOME/datasets/fashion-mnist/`, where `keras.datasets.fashion_mnist.load_data()`
  stores it), else from Debian's `dataset-fashion-mnist` package
  (`/usr/share/datasets/fashion-mnist/`); otherwise the error says how to get it.
- `mnist`: 70,000 28x28 digits, from Keras's cache (`$KERAS_HOME/datasets/mnist.npz`).

The files are parsed here (IDX, or `.npz` without pickle), so nothing is ever downloaded at run
time and nothing is unpickled.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fewlabels.errors import FewLabelsError, InputError
from fewlabels.files import check_npz

if TYPE_CHECKING:
    from fewlabels.data.folders import ImageFiles

IMAGE_DATASETS = ("digits", "fashion_mnist", "mnist")
MAX_ARRAY_BYTES = 16 << 30
"""The largest array an `.npz` may declare (16 GiB), checked from its header before reading."""
MAX_EXPANSION = 200
"""An `.npz` member unpacking to more than this multiple of its packed size is a bomb."""
MAX_CLASSES = 100_000
"""The largest class index an image label may be."""
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot"]
FASHION_MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclasses.dataclass
class ImageData:
    """Images and labels read from a folder, an `.npz` or a built-in dataset.

    Attributes:
        x: `(n, height, width, channels)` uint8 images.
        y: class indices, -1 for unlabeled images.
        classes: class names, index order (None when the source names none).
        x_test, y_test: the source's own test split (built-in datasets), else None.
        source: a description of where the images came from.
        fingerprint: a SHA-256 identifying the data (file contents, or the folder's file
            names and sizes).
        names: one name per image (file paths for folders, array indices otherwise).
        unlabeled_files: with `stream_unlabeled=True`, the folder's unlabeled images as files
            that training reads from disk per batch (then `x` holds the labeled ones only).
    """

    x: np.ndarray
    y: np.ndarray
    classes: list[str] | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    source: str
    fingerprint: str
    names: list[str]
    unlabeled_files: ImageFiles | None = None


def keras_cache_dir() -> Path:
    """Keras's cache folder: `$KERAS_HOME`, else `~/.keras` (as `keras.utils.get_file`)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def load_image_dataset(name: str, *, search_dirs: Sequence[str | os.PathLike] | None = None
                       ) -> ImageData:
    """Load a built-in image dataset, offline.

    Args:
        name: `"digits"`, `"fashion_mnist"` or `"mnist"`.
        search_dirs: folders to look in first for the dataset's files (for Fashion-MNIST, the
            four IDX `.gz` files; for MNIST, `mnist.npz`).

    Returns:
        An `ImageData` with the dataset's own test split.

    Raises:
        InputError: unknown name, or the files are missing (saying how to get them) or
            corrupt (naming the file).

    Example:
    ```python
    data = load_image_dataset("fashion_mnist")
    data.x.shape  # (60000, 28, 28, 1)
    ```
    """
    if name not in IMAGE_DATASETS:
        raise InputError(f"unknown image dataset {name!r}; choose from {IMAGE_DATASETS}.")
    extra = [Path(d) for d in (search_dirs or [])]
    if name == "digits":
        return _digits()
    if name == "fashion_mnist":
        candidates = [*extra, keras_cache_dir() / "datasets" / "fashion-mnist",
                      DEBIAN_FASHION_MNIST]
        for folder in candidates:
            if all((folder / f).is_file() for f in FASHION_MNIST_FILES):
                x_tr, y_tr, x_te, y_te = (read_idx(folder / f) for f in FASHION_MNIST_FILES)
                return _builtin(name, x_tr, y_tr, x_te, y_te, FASHION_MNIST_CLASSES,
                                source=str(folder))
        raise InputError(
            "Fashion-MNIST was not found; looked in "
            + ", ".join(str(c) for c in candidates)
            + ". Get it with `python -c \"import keras; keras.datasets.fashion_mnist.load_data()\"`"
            " (downloads into Keras's cache), or on Debian/Ubuntu `apt-get install "
            "dataset-fashion-mnist`."
        )
    candidates = [*extra, keras_cache_dir() / "datasets"]
    for folder in candidates:
        path = folder / "mnist.npz"
        if path.is_file():
            arrays = _load_npz(path, ("x_train", "y_train", "x_test", "y_test"))
            return _builtin(name, arrays["x_train"], arrays["y_train"], arrays["x_test"],
                            arrays["y_test"], [str(i) for i in range(10)], source=str(path))
    raise InputError(
        "MNIST was not found; looked for mnist.npz in "
        + ", ".join(str(c) for c in candidates)
        + ". Get it with `python -c \"import keras; keras.datasets.mnist.load_data()\"` "
        "(downloads into Keras's cache)."
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or not) of unsigned bytes, as MNIST-style datasets ship.

    The header is checked against the data length, so a truncated or corrupt file is an
    error naming it, not a reshape failure.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read it as an IDX file ({err}).") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise InputError(f"{path}: not an IDX file of unsigned bytes (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise InputError(f"{path}: truncated IDX header.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise InputError(
            f"{path}: the header declares {shape} ({expected} bytes) but the file holds "
            f"{len(raw) - header} bytes of data (truncated or corrupt)."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Read images and labels from an `.npz` with arrays `x` and `y` (and optional `classes`).

    `y` may be omitted (every image unlabeled) and uses -1 for unlabeled images. The file is
    read without pickle (`allow_pickle=False`), so an object array is refused.

    Returns:
        `(x, y, classes)`: images as `(n, h, w, c)` uint8, labels, and class names or None.
    """
    path = Path(path)
    arrays = _load_npz(path, ("x",), optional=("y", "classes"))
    x = arrays["x"]
    y = arrays.get("y", np.full(len(x), -1, dtype=np.int64))
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
    x, y = check_images(x, y, name=str(path))
    if classes is not None:
        if len(set(classes)) != len(classes):
            twice = sorted({c for c in classes if classes.count(c) > 1})
            raise InputError(f"{path}: class names {twice} appear more than once in "
                             "'classes'.")
        if len(y) and y.max() >= len(classes):
            raise InputError(f"{path}: label {int(y.max())} has no name: 'classes' lists "
                             f"{len(classes)} classes.")
    return x, y, classes


def check_images(x, y, *, name: str = "x") -> tuple[np.ndarray, np.ndarray]:
    """Validate image arrays: `(n, h, w)` or `(n, h, w, c)` with c in 1..4, labels >= -1.

    Float images in [0, 1] are scaled to 0..255; other floats must already lie in 0..255.

    Returns:
        `(x, y)` as uint8 `(n, h, w, c)` and int64.
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 2, 3, 4) or 0 in x.shape:
        raise InputError(
            f"{name}: images must be shaped (n, height, width) or (n, height, width, "
            f"channels) with 1-4 channels; got {x.shape}."
        )
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)):
            raise InputError(f"{name}: images contain NaN or inf.")
        if x.max() <= 1.0 and x.min() >= 0.0:
            x = x * 255.0
        if x.min() < 0 or x.max() > 255:
            raise InputError(f"{name}: float pixel values must lie in [0, 1] or [0, 255].")
        x = np.rint(x).astype(np.uint8)
    elif x.dtype != np.uint8:
        if x.dtype.kind not in "iu" or x.min() < 0 or x.max() > 255:
            raise InputError(f"{name}: pixel values must be uint8 or lie in 0..255.")
        x = x.astype(np.uint8)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise InputError(f"{name}: {len(x)} images but labels of shape {y.shape}.")
    if y.dtype.kind not in "iu" or (len(y) and y.min() < -1):
        raise InputError(f"{name}: labels must be integers >= 0, or -1 for unlabeled.")
    if len(y) and y.max() >= MAX_CLASSES:
        raise InputError(f"{name}: label {int(y.max())} is not a class index (labels are "
                         f"0 .. n_classes - 1, at most {MAX_CLASSES - 1}).")
    return x, y.astype(np.int64)


def _load_npz(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    check_npz(path, (*required, *optional), max_array_bytes=MAX_ARRAY_BYTES,
              max_expansion=MAX_EXPANSION)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in required if k not in data.files]
            if missing:
                raise InputError(f"{path}: missing array(s) {missing}; it has {data.files}.")
            return {k: data[k] for k in (*required, *optional) if k in data.files}
    except FewLabelsError:
        raise
    except ValueError as err:  # object arrays need pickle, which is refused
        raise InputError(f"{path}: cannot read it without pickle ({err}).") from err
    except Exception as err:  # any other damage to the archive or an array
        raise InputError(f"{path}: not a readable .npz file ({type(err).__name__}: {err}).") \
            from err


def _builtin(name: str, x_tr, y_tr, x_te, y_te, classes, *, source: str) -> ImageData:
    """A built-in dataset's train and test split, checked, as `ImageData`."""
    x_tr, y_tr = check_images(x_tr, y_tr, name=f"{source} (train)")
    x_te, y_te = check_images(x_te, y_te, name=f"{source} (test)")
    return ImageData(x_tr, y_tr, list(classes), x_te, y_te, f"builtin:{name} ({source})",
                     f"builtin:{name}", [str(i) for i in range(len(x_tr))])


def _digits() -> ImageData:
    from sklearn.datasets import load_digits

    from fewlabels.data.splits import stratified_split

    bunch = load_digits()
    x = digits_as_images(bunch.data)
    y = bunch.target.astype(np.int64)
    train, test = stratified_split(y, 0.2, seed=0)
    return _builtin("digits", x[train], y[train], x[test], y[test],
                    [str(c) for c in bunch.target_names], source="scikit-learn")


def digits_as_images(rows: np.ndarray) -> np.ndarray:
    """scikit-learn's digits rows (64 values in 0..16) as `(n, 8, 8, 1)` uint8 images."""
    rows = np.asarray(rows, dtype=np.float64)
    return np.clip(rows * 16.0, 0, 255).astype(np.uint8).reshape(-1, 8, 8, 1)
