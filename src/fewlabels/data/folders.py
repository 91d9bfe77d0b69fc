"""Image folders: one subfolder per class, plus an optional folder of unlabeled images.

```
data/
  cat/ 001.png 002.jpg ...
  dog/ ...
  unlabeled/ ...        (name set by `unlabeled=`; or a separate folder, `unlabeled_dir=`)
```

`scan_image_folder` checks every file before training starts, so nothing crashes mid-epoch
with a bare TensorFlow error. It reports, one line per file:

- a file that is corrupt or truncated (Pillow cannot open or verify it);
- a file whose content does not match its extension (a BMP named `.jpg`);
- an image that declares more than `max_pixels` pixels, rejected from its header before any
  pixel is decoded (a decompression bomb);
- a path that escapes the data root through a symlink or `..`.

An empty class folder is an error of its own. `image_dataset` then streams the checked files
from disk through `tf.data`, so a folder larger than memory works.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np

from fewlabels.errors import FewLabelsWarning, InputError

EXTENSION_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP",
                     ".gif": "GIF"}
MAX_PIXELS = 89_478_485
"""Pillow's own decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`), about 9,500 x 9,500."""
REPORT_LINES = 20


@dataclasses.dataclass(frozen=True)
class ImageFolder:
    """The checked files of an image folder.

    Attributes:
        paths: every usable image file (absolute, resolved), labeled ones first.
        y: class index per path, -1 for unlabeled images.
        classes: class names (sorted subfolder names).
        root: the data root.
        bad: one line per file that failed the pre-scan (empty unless `on_bad_image="skip"`).
    """

    paths: list[Path]
    y: np.ndarray
    classes: list[str]
    root: Path
    bad: list[str]


def scan_image_folder(
    root: str | os.PathLike,
    *,
    unlabeled: str = "unlabeled",
    unlabeled_dir: str | os.PathLike | None = None,
    on_bad_image: str = "error",
    max_pixels: int = MAX_PIXELS,
) -> ImageFolder:
    """List and check every image of a class-per-folder dataset before training.

    Args:
        root: the folder holding one subfolder per class.
        unlabeled: the name of the subfolder holding unlabeled images (not a class).
        unlabeled_dir: a separate folder of unlabeled images (it is its own data root).
        on_bad_image: `"error"` (default): stop with a report naming every bad file;
            `"skip"`: leave them out and warn with the same report.
        max_pixels: the largest width x height accepted, checked from the file's header.

    Returns:
        An `ImageFolder`.

    Example:
    ```python
    folder = scan_image_folder("data/", on_bad_image="skip")
    folder.classes, len(folder.paths), folder.bad
    ```
    """
    root = _checked_root(root, on_bad_image)
    real_root = root.resolve()
    if unlabeled != "unlabeled" and not (root / unlabeled).is_dir():
        raise InputError(
            f"{root}: no subfolder {unlabeled!r} of unlabeled images (its subfolders: "
            f"{sorted(d.name for d in root.iterdir() if d.is_dir())}); without it, every "
            "subfolder would be taken as a class.")
    class_dirs = sorted(d for d in root.iterdir()
                        if d.is_dir() and d.name != unlabeled and not d.name.startswith("."))
    if not class_dirs:
        raise InputError(f"{root}: no class subfolders (one folder per class is expected).")
    for folder in [*class_dirs, root / unlabeled]:
        _refuse_escaping_folder(folder, real_root)
    found: list[tuple[Path, Path, int]] = []
    for index, class_dir in enumerate(class_dirs):
        files = _files(class_dir)
        if not files:
            raise InputError(f"{class_dir}: the class folder {class_dir.name!r} is empty.")
        found += [(f, real_root, index) for f in files]
    sources = [(root / unlabeled, real_root)]
    if unlabeled_dir is not None:
        if not Path(unlabeled_dir).is_dir():
            raise InputError(f"{unlabeled_dir}: no such folder of unlabeled images.")
        sources.append((Path(unlabeled_dir), Path(unlabeled_dir).resolve()))
    for folder, data_root in sources:
        if folder.is_dir():
            found += [(f, data_root, -1) for f in _files(folder)]
    paths, labels, bad = _check_files(found, max_pixels)
    if bad:
        _report_bad(bad, on_bad_image)
        missing = [d.name for i, d in enumerate(class_dirs) if i not in set(labels)]
        if missing:
            raise InputError(f"{root}: no usable image left in class(es) {missing}.")
    return ImageFolder(paths, np.array(labels, dtype=np.int64),
                       [d.name for d in class_dirs], root, bad if on_bad_image == "skip" else [])


def scan_image_files(
    root: str | os.PathLike,
    *,
    on_bad_image: str = "error",
    max_pixels: int = MAX_PIXELS,
) -> ImageFolder:
    """List and check every image below a folder, in any layout (for prediction).

    The same pre-scan as `scan_image_folder`, without classes: every image is unlabeled.

    Args:
        root: the folder; images are found in it and in its subfolders.
        on_bad_image: `"error"` (default) or `"skip"`, as in `scan_image_folder`.
        max_pixels: the largest width x height accepted.

    Returns:
        An `ImageFolder` with `y` all -1 and no classes.

    Example:
    ```python
    files = scan_image_files("new_photos/")
    ```
    """
    root = _checked_root(root, on_bad_image)
    real_root = root.resolve()
    paths, labels, bad = _check_files([(f, real_root, -1) for f in _files(root)], max_pixels)
    if bad:
        _report_bad(bad, on_bad_image)
    if not paths:
        raise InputError(f"{root}: no image files found.")
    return ImageFolder(paths, np.array(labels, dtype=np.int64), [], root,
                       bad if on_bad_image == "skip" else [])


def _checked_root(root: str | os.PathLike, on_bad_image: str) -> Path:
    """The data root as a Path, refusing a missing folder or a bad `on_bad_image`."""
    if on_bad_image not in ("error", "skip"):
        raise InputError(f"on_bad_image must be 'error' or 'skip'; got {on_bad_image!r}.")
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder.")
    return root


def _report_bad(bad: list[str], on_bad_image: str) -> None:
    """Raise (`"error"`) or warn (`"skip"`) with one line per bad file."""
    report = "\n".join(bad[:REPORT_LINES])
    more = f"\n... and {len(bad) - REPORT_LINES} more" if len(bad) > REPORT_LINES else ""
    if on_bad_image == "error":
        raise InputError(
            f"{len(bad)} bad image file(s) found before reading any (pass --on-bad-image "
            f"skip, on_bad_image='skip' in Python, to leave them out):\n{report}{more}"
        )
    warnings.warn(f"skipping {len(bad)} bad image file(s):\n{report}{more}",
                  FewLabelsWarning, stacklevel=3)


def _refuse_escaping_folder(folder: Path, real_root: Path) -> None:
    """Refuse, before walking it, a subfolder that links outside the data root (a link to
    `/` would have the scan walk the whole file system before failing)."""
    if not folder.is_dir():
        return
    real = folder.resolve()
    if real != real_root and real_root not in real.parents:
        raise InputError(f"{folder}: links outside the data root {real_root} (to {real}); "
                         "fewlabels reads only files inside the folder it is given.")


def _files(folder: Path) -> list[Path]:
    """Every non-hidden file below `folder` (links included: they are checked later)."""
    return sorted(p for p in folder.rglob("*")
                  if not any(part.startswith(".") for part in p.relative_to(folder).parts)
                  and (p.is_file() or p.is_symlink()))


def _check_files(found: list[tuple[Path, Path, int]], max_pixels: int
                 ) -> tuple[list[Path], list[int], list[str]]:
    """Check each `(file, data root, label)`: the good files' paths and labels, and a line
    for each bad file (a progress bar counts them, `fewlabels.progress`)."""
    from fewlabels.progress import counted

    paths: list[Path] = []
    labels: list[int] = []
    bad: list[str] = []
    for path, real_root, label in counted(found, len(found), f"Checking {len(found)} files"):
        problem = check_image_file(path, real_root, max_pixels)
        if problem:
            bad.append(f"{path}: {problem}")
        else:
            paths.append(path.resolve())
            labels.append(label)
    return paths, labels, bad


def check_image_file(path: Path, real_root: Path, max_pixels: int = MAX_PIXELS) -> str | None:
    """What is wrong with one image file, or None if it is safe to decode.

    The checks read only the header before the size check, so a decompression bomb is
    rejected without decoding it; an animated GIF counts every frame. A file the training
    decoder (TensorFlow's) cannot read is refused here, not mid-training.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        real = path.resolve()
    except (RuntimeError, OSError) as err:  # a symbolic link loop, a name too long
        return f"cannot be resolved ({err})"
    if not real.is_relative_to(real_root):
        return f"escapes the data root {real_root} (it resolves to {real})"
    expected = EXTENSION_FORMATS.get(path.suffix.lower())
    if expected is None:
        return (f"unsupported extension {path.suffix!r} (expected one of "
                f"{sorted(EXTENSION_FORMATS)})")
    saved_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own check below runs first and reports the size
    try:
        with Image.open(real) as image:
            problem = _header_problem(image, path, expected, max_pixels)
            if problem:
                return problem
            image.verify()
        with Image.open(real) as image:
            image.load()  # verify() misses truncated pixel data; a full decode does not
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        return f"corrupt or truncated image ({err})"
    finally:
        Image.MAX_IMAGE_PIXELS = saved_limit
    return None


def _header_problem(image, path: Path, expected: str, max_pixels: int) -> str | None:
    """Size (every frame counted), format, and what TensorFlow's decoder can read."""
    width, height = image.size
    frames = getattr(image, "n_frames", 1) if image.format == "GIF" else 1
    if width * height * frames > max_pixels:
        shown = f" in {frames} frames" if frames > 1 else ""
        return (f"declares {width} x {height} pixels{shown}, more than the limit of "
                f"{max_pixels:,} (rejected before decoding)")
    found = "JPEG" if image.format == "MPO" else image.format  # a camera's multi-picture JPEG
    if found != expected:
        return (f"is a {image.format} file with a {path.suffix} extension; rename it "
                f"or re-save it as {expected}")
    if found == "BMP":
        bits, compression = _bmp_header(path)
        if bits not in (8, 24, 32) or compression != 0:
            return (f"is a {bits}-bit BMP with compression {compression}, which the training "
                    "decoder cannot read; re-save it as an uncompressed 8-, 24- or 32-bit BMP "
                    "or as PNG")
    return None


def _bmp_header(path: Path) -> tuple[int, int]:
    """A BMP's bits per pixel and compression (0 for a header older than Windows 3)."""
    with open(path, "rb") as f:
        head = f.read(34)
    size = int.from_bytes(head[14:18], "little")
    if size < 40 or len(head) < 34:  # an OS/2 header: TensorFlow does not read it
        return int.from_bytes(head[24:26], "little"), -1
    return int.from_bytes(head[28:30], "little"), int.from_bytes(head[30:34], "little")


@dataclasses.dataclass(frozen=True)
class ImageFiles:
    """Checked image files that training reads from disk batch by batch (never all at once).

    Attributes:
        paths: the files (checked by `scan_image_folder` or `scan_image_files`).
        image_size: `(height, width)` they are resized to.
        channels: 1 (gray) or 3 (RGB).
        fingerprint: a SHA-256 of their names and sizes (checkpoints refuse another set).
    """

    paths: list[str]
    image_size: tuple[int, int]
    channels: int
    fingerprint: str

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of one decoded image, `(height, width, channels)`."""
        return (*self.image_size, self.channels)

    def encoded(self, indices):
        """The encoded bytes of the files at `indices` (an int64 tensor), as a string
        tensor, inside `tf.data`."""
        import tensorflow as tf

        paths = tf.gather(tf.constant(self.paths), indices)
        return tf.map_fn(tf.io.read_file, paths, fn_output_signature=tf.string)


def files_fingerprint(paths, root: Path) -> str:
    """A SHA-256 of the files' names (relative to `root`) and sizes: cheap, and it changes
    when files are added, removed, renamed or rewritten to another size."""
    import hashlib

    digest = hashlib.sha256()
    root = root.resolve()
    for p in map(Path, paths):
        name = p.relative_to(root) if p.is_relative_to(root) else p
        digest.update(f"{name}\0{p.stat().st_size}\n".encode())
    return digest.hexdigest()


def unlabeled_files(folder: ImageFolder, image_size: tuple[int, int], channels: int
                    ) -> ImageFiles:
    """The unlabeled images of a scanned folder, to stream from disk during training."""
    paths = [str(p) for p, label in zip(folder.paths, folder.y, strict=True) if label < 0]
    return ImageFiles(paths, tuple(image_size), channels,
                      files_fingerprint(paths, folder.root))


def decode_file(path, image_size: tuple[int, int], channels: int):
    """Read, decode and resize one checked image file inside `tf.data` (float32, 0..255)."""
    import tensorflow as tf

    return decode_bytes(tf.io.read_file(path), image_size, channels)


def decode_batch(raw, image_size: tuple[int, int], channels: int):
    """Decode and resize a batch of checked encoded images (a 1-D string tensor) inside
    `tf.data`: `(n, height, width, channels)` float32, 0..255."""
    import tensorflow as tf

    spec = tf.TensorSpec((*image_size, channels), tf.float32)
    return tf.map_fn(lambda r: decode_bytes(r, image_size, channels), raw,
                     fn_output_signature=spec)


def as_pixels(images) -> np.ndarray:
    """Decoded images (float, 0..255: a tensor or an array) rounded to `uint8`, as fewlabels
    keeps images in memory: a file decoded for training, labelling or predicting gives the
    same pixels each time."""
    return np.clip(np.rint(np.asarray(images)), 0, 255).astype(np.uint8)


def decode_bytes(raw, image_size: tuple[int, int], channels: int):
    """Decode and resize one checked encoded image (a string tensor) inside `tf.data`
    (float32, 0..255)."""
    import tensorflow as tf

    image = tf.io.decode_image(raw, channels=channels, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), image_size)
    image.set_shape((*image_size, channels))
    return image


def image_dataset(
    folder: ImageFolder,
    *,
    image_size: tuple[int, int],
    channels: int = 3,
    batch_size: int = 32,
    labeled: bool = True,
    shuffle: bool = False,
    seed: int = 0,
    cache: bool | str | os.PathLike = False,
):
    """Stream checked images from disk as a `tf.data.Dataset` of `(images, labels)`.

    Images are decoded, converted to `channels` (1: gray, 3: RGB) and resized to
    `image_size`, as float32 in 0..255. Only the files `scan_image_folder` accepted are read.

    Args:
        folder: a scanned folder.
        image_size: `(height, width)` after resizing.
        channels: 1 or 3.
        batch_size: the batch size.
        labeled: the labeled images (True) or the unlabeled ones (False).
        shuffle: shuffle the file order each epoch, seeded.
        seed: the shuffling seed.
        cache: keep decoded, resized images after the first pass: `True` in memory, or a
            file path prefix to cache on disk (for a folder larger than memory). Default:
            decode from disk on every pass.

    Returns:
        A batched, prefetched `tf.data.Dataset`.

    Example:
    ```python
    ds = image_dataset(folder, image_size=(64, 64), shuffle=True, cache="/tmp/pets.cache")
    ```
    """
    import tensorflow as tf

    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3; got {channels!r}.")
    keep = folder.y >= 0 if labeled else folder.y < 0
    paths = [str(p) for p, k in zip(folder.paths, keep, strict=True) if k]
    labels = folder.y[keep]

    def load(path, label):
        return decode_file(path, image_size, channels), label

    ds = tf.data.Dataset.from_tensor_slices((paths, labels)).map(
        load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
    if shuffle:  # after the cache, so that each epoch gets a new order
        ds = ds.shuffle(max(len(paths), 1), seed=seed, reshuffle_each_iteration=True)
    from fewlabels.data.streams import without_autotune

    return without_autotune(ds.batch(batch_size).prefetch(tf.data.AUTOTUNE))
