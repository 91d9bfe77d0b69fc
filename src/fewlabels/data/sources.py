"""One door for every kind of training data the CLI and the workflows accept.

`DATA` may be:

- a text/CSV table (features, then the label column): see `fewlabels.data.load_table`;
- a folder with one subfolder per class and an optional `unlabeled/` subfolder
  (`fewlabels.data.folders`);
- an `.npz` file with arrays `x`, `y` (-1 = unlabeled) and optionally `classes`;
- a built-in image dataset by name: `digits`, `fashion_mnist` or `mnist` (its own test split
  comes with it). An existing file or folder of that name wins over the built-in.

Images come out as `uint8` arrays `(n, height, width, channels)`. A folder is pre-scanned (every
bad file named before anything is decoded), then decoded and resized through `tf.data` to
`image_size`. Training holds the decoded images in memory as `uint8` (60,000 28x28 images take
47 MB; 10,000 128x128 RGB images take 490 MB), except the unlabeled images of a folder read
with `stream_unlabeled=True`: consistency training then reads them from disk batch by batch
(`fewlabels.ssl_data`). Prediction streams a folder batch by batch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fewlabels.data.folders import as_pixels
from fewlabels.data.images import IMAGE_DATASETS, ImageData, load_image_dataset, load_npz
from fewlabels.errors import InputError
from fewlabels.files import file_sha256

if TYPE_CHECKING:
    pass

DEFAULT_IMAGE_SIZE = 64
"""The side folder images are resized to when no `image_size` is given."""
MAX_IMAGE_SIZE = 2048
"""The largest side images may be resized to (one RGB image is then 12 MB as uint8)."""


def is_image_source(data: str | os.PathLike) -> bool:
    """Whether `data` names images (a folder, an `.npz`, a built-in name) rather than a table."""
    path = Path(data)
    if path.is_dir() or path.suffix.lower() == ".npz":
        return True
    return not path.exists() and str(data) in IMAGE_DATASETS


def load_images(
    data: str | os.PathLike,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    unlabeled: str = "unlabeled",
    unlabeled_dir: str | os.PathLike | None = None,
    on_bad_image: str = "error",
    class_folders: bool = True,
    stream_unlabeled: bool = False,
) -> ImageData:
    """Read images for training, evaluation or prediction.

    Args:
        data: a folder, an `.npz` file, or a built-in name (`digits`, `fashion_mnist`,
            `mnist`).
        image_size: folders: the square side images are resized to (default 64). Arrays
            must already have it, if given.
        channels: 1 (gray) or 3 (RGB). Folders are decoded to it (default 3); arrays are
            converted (gray to RGB by repetition, RGB to gray by luminance).
        unlabeled: folders: the subfolder of unlabeled images.
        unlabeled_dir: folders: a separate folder of unlabeled images.
        on_bad_image: folders: `"error"` or `"skip"` (see `scan_image_folder`).
        class_folders: folders: one subfolder per class (True), or any layout, every image
            unlabeled (False, for prediction).
        stream_unlabeled: folders: decode only the labeled images; the unlabeled ones stay
            files (`ImageData.unlabeled_files`) that consistency training streams from disk
            batch by batch, so an unlabeled pool larger than memory works.

    Returns:
        An `ImageData`.

    Example:
    ```python
    data = load_images("photos/", image_size=96)
    data.x.shape, data.classes
    ```
    """
    if channels not in (None, 1, 3):
        raise InputError(f"channels must be 1 or 3; got {channels!r}.")
    if image_size is not None and (not isinstance(image_size, int)
                                   or not 8 <= image_size <= MAX_IMAGE_SIZE):
        raise InputError(f"image_size must be an integer from 8 to {MAX_IMAGE_SIZE}; got "
                         f"{image_size!r}.")
    path = Path(data)
    if stream_unlabeled and not path.is_dir():
        raise InputError(f"{data}: stream_unlabeled reads image folders and shard "
                         "directories; arrays and "
                             "built-in datasets are in memory already.")
    if path.is_dir():
        return _load_folder(path, image_size or DEFAULT_IMAGE_SIZE, channels or 3,
                            unlabeled=unlabeled, unlabeled_dir=unlabeled_dir,
                            on_bad_image=on_bad_image, class_folders=class_folders,
                            stream_unlabeled=stream_unlabeled)
    if path.suffix.lower() == ".npz":
        x, y, classes = load_npz(path)
        out = ImageData(x, y, classes, None, None, str(path), file_sha256(path),
                        [str(i) for i in range(len(x))])
    elif not path.exists() and str(data) in IMAGE_DATASETS:
        out = load_image_dataset(str(data))
    else:
        raise InputError(
            f"{data}: not an image source (a folder, an .npz file, or one of "
            f"{list(IMAGE_DATASETS)})."
        )
    if image_size is not None and out.x.shape[1:3] != (image_size, image_size):
        raise InputError(
            f"{data}: images are {out.x.shape[1]}x{out.x.shape[2]}, not {image_size}x"
            f"{image_size}; image_size resizes folders only (transfer models resize inside, "
            "see input_size)."
        )
    if channels is not None:
        out.x = convert_channels(out.x, channels)
        if out.x_test is not None:
            out.x_test = convert_channels(out.x_test, channels)
    return out


def convert_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """Gray <-> RGB for uint8 images `(n, h, w, c)`; drops an alpha channel."""
    if x.shape[-1] in (2, 4):
        x = x[..., : x.shape[-1] - 1]
    if x.shape[-1] == channels:
        return x
    if channels == 3:
        return np.repeat(x, 3, axis=-1)
    gray = x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.rint(gray)[..., None].astype(np.uint8)


def labels_by_name(y: np.ndarray, classes: list[str] | None, model_classes: list,
                   source: str) -> np.ndarray:
    """Map labels of a source onto a model's class list, by class name.

    Args:
        y: class indices into `classes` (-1 = unlabeled).
        classes: the source's class names, or None when it has none (then `y` must already
            index `model_classes`).
        model_classes: the model's class list.
        source: named in errors.

    Returns:
        Labels as indices into `model_classes`.
    """
    if classes is None:
        if len(y) and y.max() >= len(model_classes):
            raise InputError(
                f"{source}: label {int(y.max())} is beyond the model's {len(model_classes)} "
                "classes."
            )
        return y
    index = {str(c): i for i, c in enumerate(model_classes)}
    unknown = [c for c in classes if str(c) not in index]
    if unknown:
        raise InputError(
            f"{source}: class(es) {unknown} are not among the model's classes "
            f"{[str(c) for c in model_classes]}."
        )
    lookup = np.array([index[str(c)] for c in classes] + [-1], dtype=np.int64)
    return lookup[np.where(y < 0, len(classes), y)]


def _load_folder(path, image_size, channels, *, unlabeled, unlabeled_dir, on_bad_image,
                 class_folders, stream_unlabeled=False) -> ImageData:
    from fewlabels.data.folders import (
        files_fingerprint,
        image_dataset,
        scan_image_files,
        scan_image_folder,
        unlabeled_files,
    )
    from fewlabels.data.shards import is_shard_dir

    if is_shard_dir(path):
        return _load_shards(path, image_size, channels, stream_unlabeled)
    if class_folders:
        folder = scan_image_folder(path, unlabeled=unlabeled, unlabeled_dir=unlabeled_dir,
                                   on_bad_image=on_bad_image)
    else:
        folder = scan_image_files(path, on_bad_image=on_bad_image)
    from fewlabels.progress import counted

    parts, labels = [], []
    for is_labeled in (True, False) if not stream_unlabeled else (True,):
        n = int(np.sum((folder.y >= 0) == is_labeled))
        if not n:
            continue
        batches = image_dataset(folder, image_size=(image_size, image_size),
                                channels=channels, batch_size=256, labeled=is_labeled)
        what = f"Decoding {n} {'labeled' if is_labeled else 'unlabeled'} images"
        for images, y in counted(batches, n, what, size=lambda batch: len(batch[1])):
            parts.append(as_pixels(images))
            labels.append(y.numpy().astype(np.int64))
    fingerprint = files_fingerprint(folder.paths, folder.root)
    names = [str(p) for p, lab in zip(folder.paths, folder.y, strict=True) if lab >= 0]
    files = None
    if stream_unlabeled:
        files = unlabeled_files(folder, (image_size, image_size), channels)
    else:
        names += [str(p) for p, lab in zip(folder.paths, folder.y, strict=True) if lab < 0]
    if not parts:  # streamed, and no labeled image: training refuses it by name later
        parts = [np.zeros((0, image_size, image_size, channels), np.uint8)]
        labels = [np.zeros(0, np.int64)]
    return ImageData(np.concatenate(parts), np.concatenate(labels),
                     folder.classes or None, None, None, str(path), fingerprint, names,
                     files)


def _load_shards(path, image_size: int, channels: int, stream_unlabeled: bool) -> ImageData:
    """A shard directory (`fewlabels shard`): the labeled images decoded, the unlabeled
    ones too, or left on disk to stream (`stream_unlabeled`)."""
    from fewlabels.data.shards import open_shards
    from fewlabels.progress import counted

    pool = open_shards(path).decoded_as((image_size, image_size), channels)
    keep = pool.y >= 0 if stream_unlabeled else np.ones(len(pool), bool)
    rows = np.flatnonzero(keep)
    rows = np.concatenate([rows[pool.y[rows] >= 0], rows[pool.y[rows] < 0]])  # labeled first
    parts = [np.zeros((0, image_size, image_size, channels), np.uint8)]
    chosen = pool.subset(rows)
    for images in counted(chosen.dataset(), len(rows), f"Decoding {len(rows)} images",
                          size=len):
        parts.append(as_pixels(images))
    kept = [name for name, k in zip(pool.names(), keep, strict=True) if k]  # directory order
    place = np.cumsum(keep) - 1
    names = [kept[place[r]] for r in rows]
    files = pool.subset(np.flatnonzero(pool.y < 0)) if stream_unlabeled else None
    return ImageData(np.concatenate(parts), chosen.y.copy(), pool.classes or None, None, None,
                     str(path), pool.fingerprint, names, files)
