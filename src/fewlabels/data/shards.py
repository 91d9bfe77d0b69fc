"""Image pools in shards: tar files of encoded images, read by position, never all at once.

`fewlabels shard DATA --out DIR` writes a checked image folder as a shard directory:

- `shard-00000.tar`, `shard-00001.tar`, ...: plain (uncompressed) tar files of the images'
  own bytes (PNG, JPEG, ... as they were; nothing is re-encoded), `shard_size` images each;
- `shard-00000.names`, ...: the images' names (their paths in DATA), one per line;
- `index.npz`: per image its shard, byte offset and size in it, and its class (-1:
  unlabeled), as plain arrays (read with `allow_pickle=False`);
- `shards.json`: the format, the classes, and each shard's file, image count and size.

A shard directory is an image source like a folder (`fit`, `evaluate`, `predict`): the
labeled images are decoded into memory, and with `--stream-unlabeled` the unlabeled pool
stays on disk, each step reading its batch by position (`os.pread` on the shard), so
training and labelling memory is bounded by the batch and the prefetch, not by the pool.
The positions are what the exact-resume stream (`fewlabels.stepwise`) draws, so a streamed
pool resumes as an in-memory one does. The index costs 21 bytes an image (21 MB for a
million images).

Example:
```python
write_folder_shards("photos/", "photos-shards/", shard_size=10_000)
pool = open_shards("photos-shards/")
len(pool), pool.classes
```
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np

from fewlabels.errors import InputError

MANIFEST = "shards.json"
INDEX = "index.npz"
FORMAT = "fewlabels-shards-1"
SHARD_SIZE = 10_000
"""Images per shard by default: files of a few MB to a few hundred MB."""
MAX_IMAGE_BYTES = 64 * 2**20
"""The largest encoded image a shard may hold."""


def is_shard_dir(path: str | os.PathLike) -> bool:
    """Whether `path` is a shard directory (it holds `shards.json`)."""
    return (Path(path) / MANIFEST).is_file()


class ShardWriter:
    """Writes encoded images into numbered tar shards, then the index and the manifest.

    Args:
        out: the shard directory (created; it must not hold shards already).
        classes: the class names (labels index them; -1 is unlabeled).
        shard_size: images per shard.

    Example:
    ```python
    with ShardWriter("pool/", classes=["cat", "dog"]) as writer:
        writer.add("cat/1.png", png_bytes, 0)
    ```
    """

    def __init__(self, out: str | os.PathLike, classes: list[str],
                 shard_size: int = SHARD_SIZE) -> None:
        if not isinstance(shard_size, int) or shard_size < 1:
            raise InputError(f"shard_size must be an integer >= 1; got {shard_size!r}.")
        self.out = Path(out)
        if self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise InputError(f"{self.out}: exists and is not an empty folder; shards go into "
                             "a new folder.")
        self.out.mkdir(parents=True, exist_ok=True)
        self.classes, self.shard_size = list(classes), shard_size
        self.shards: list[dict] = []
        self.columns: dict[str, list] = {"shard": [], "offset": [], "size": [], "label": []}
        self._tar = self._names = None

    def add(self, name: str, data: bytes, label: int) -> None:
        """Append one encoded image (`name` keeps its extension: `.png`, `.jpg`, ...)."""
        if not -1 <= label < len(self.classes):
            raise InputError(f"{name}: label {label} is not -1 or a class index below "
                             f"{len(self.classes)}.")
        if self._tar is None or len(self.columns["shard"]) % self.shard_size == 0:
            self._next_shard()
        info = tarfile.TarInfo(f"{len(self.columns['shard']):09d}{Path(name).suffix.lower()}")
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))
        # The data follows its 512-byte header; the tar file object is at its padded end.
        end = self._tar.offset
        self.columns["shard"].append(len(self.shards) - 1)
        self.columns["offset"].append(end - _padded(len(data)))
        self.columns["size"].append(len(data))
        self.columns["label"].append(label)
        self._names.write(name.replace("\n", " ") + "\n")
        self.shards[-1]["images"] += 1

    def _next_shard(self) -> None:
        self._close_shard()
        name = f"shard-{len(self.shards):05d}.tar"
        self._tar = tarfile.open(self.out / name, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115
        self._names = open(self.out / name.replace(".tar", ".names"), "w",  # noqa: SIM115
                           encoding="utf-8")
        self.shards.append({"file": name, "images": 0})

    def _close_shard(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._names.close()
            self.shards[-1]["bytes"] = (self.out / self.shards[-1]["file"]).stat().st_size

    def close(self) -> Path:
        """Finish the last shard; write the index and the manifest. Returns the folder."""
        self._close_shard()
        self._tar = None
        dtypes = {"shard": np.int32, "offset": np.int64, "size": np.int32, "label": np.int32}
        np.savez(self.out / INDEX, **{k: np.asarray(v, dtype=dtypes[k])
                                      for k, v in self.columns.items()})
        manifest = {"format": FORMAT, "classes": self.classes, "shards": self.shards,
                    "images": len(self.columns["shard"])}
        (self.out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        return self.out

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.close()
        else:
            self._close_shard()


def _padded(size: int) -> int:
    """A tar member's data size rounded up to whole 512-byte blocks."""
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def write_folder_shards(data: str | os.PathLike, out: str | os.PathLike, *,
                        shard_size: int = SHARD_SIZE, on_bad_image: str = "error",
                        unlabeled: str = "unlabeled") -> Path:
    """Write a checked image folder (one subfolder per class, and `unlabeled/`) as shards.

    Every file passes the folder pre-scan first (`scan_image_folder`): the shards hold only
    images that decode safely. Labeled images come first, then the unlabeled ones.

    Args:
        data: the image folder.
        out: the new shard directory.
        shard_size: images per shard.
        on_bad_image: `"error"` or `"skip"` for files that fail the pre-scan.
        unlabeled: the subfolder of unlabeled images.

    Returns:
        The shard directory.
    """
    from fewlabels.data.folders import scan_image_folder
    from fewlabels.progress import counted

    folder = scan_image_folder(data, unlabeled=unlabeled, on_bad_image=on_bad_image)
    with ShardWriter(out, folder.classes, shard_size) as writer:
        for path, label in counted(zip(folder.paths, folder.y, strict=True), len(folder.y),
                                   f"Writing {len(folder.y)} images to shards"):
            writer.add(str(Path(path).relative_to(folder.root.resolve())), Path(path).read_bytes(),
                       int(label))
    return Path(out)


@dataclasses.dataclass
class ImageShards:
    """Images in a shard directory, read by position from disk.

    Attributes:
        root: the shard directory.
        files: the shard files, by shard number.
        shard, offset, size: per image, its shard, byte offset and size.
        y: per image, its class index (-1: unlabeled).
        classes: the class names.
        image_size, channels: what images decode to (`(height, width)`, 1 or 3).
        fingerprint: a SHA-256 of the manifest and the index (checkpoints refuse another).
    """

    root: Path
    files: list[str]
    shard: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    y: np.ndarray
    classes: list[str]
    image_size: tuple[int, int] = (64, 64)
    channels: int = 3
    fingerprint: str = ""

    def __len__(self) -> int:
        return len(self.y)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of one decoded image, `(height, width, channels)`."""
        return (*self.image_size, self.channels)

    def subset(self, rows: np.ndarray) -> ImageShards:
        """The images at `rows`, in that order (the index is copied; no image is read)."""
        return dataclasses.replace(self, shard=self.shard[rows], offset=self.offset[rows],
                                   size=self.size[rows], y=self.y[rows])

    def decoded_as(self, image_size: tuple[int, int], channels: int) -> ImageShards:
        """The same images, decoded to `image_size` and `channels`."""
        return dataclasses.replace(self, image_size=tuple(image_size), channels=channels)

    def read(self, i: int) -> bytes:
        """The encoded bytes of image `i` (`os.pread` on its shard)."""
        return _read_at(str(self.root / self.files[self.shard[i]]), int(self.offset[i]),
                        int(self.size[i]))

    def encoded(self, indices):
        """The encoded bytes of the images at `indices` (an int64 tensor), as a string
        tensor, inside `tf.data`: one Python call per batch (`os.pread` on the shards)."""
        import tensorflow as tf

        def read(rows: np.ndarray) -> np.ndarray:
            # A 1-D object array: returning one 0-d array per image leaks in TensorFlow 2.21.
            out = np.empty(len(rows), dtype=object)
            for k, i in enumerate(rows):
                out[k] = self.read(int(i))
            return out

        raw = tf.numpy_function(read, [indices], tf.string, stateful=False)
        raw.set_shape(indices.shape)
        return raw

    def dataset(self, batch_size: int = 256):
        """Every image in order, decoded, in batches (float32, 0..255): for prediction."""
        import tensorflow as tf

        from fewlabels.data.folders import decode_batch
        from fewlabels.data.streams import without_autotune

        # Without tf.data's autotuning, whose buffers grow toward half the RAM on a long
        # pass: parallelism is then the core count, and memory stays what the batch needs.
        return without_autotune(
            tf.data.Dataset.range(len(self)).batch(batch_size)
            .map(lambda rows: decode_batch(self.encoded(rows), self.image_size, self.channels),
                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(2))

    def names(self):
        """Every image's name in the directory (its path in the source folder), in the
        directory's order, read lazily (a subset's too: its rows are not picked out)."""
        for number in range(len(self.files)):
            with open(self.root / self.files[number].replace(".tar", ".names"),
                      encoding="utf-8") as f:
                yield from (line.rstrip("\n") for line in f)


_OPEN: dict[str, int] = {}  # shard file -> descriptor, per process


def _read_at(path: str, offset: int, size: int) -> bytes:
    fd = _OPEN.get(path)
    if fd is None:
        fd = _OPEN[path] = os.open(path, os.O_RDONLY)
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise InputError(f"{path}: {size} bytes at offset {offset} are past its end; the "
                         "shard is truncated (write the shards again).")
    return data


def open_shards(path: str | os.PathLike) -> ImageShards:
    """Open a shard directory written by `fewlabels shard`, checking its index.

    Every entry of the index must lie inside its shard file, and the counts must agree with
    the manifest; a wrong one is named (image number, shard file).

    Args:
        path: the shard directory.

    Returns:
        An `ImageShards` (nothing decoded yet).
    """
    root = Path(path)
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT!r}")
        files = [s["file"] for s in manifest["shards"]]
        classes = [str(c) for c in manifest["classes"]]
        with np.load(root / INDEX, allow_pickle=False) as index:
            shard, offset = index["shard"].astype(np.int64), index["offset"]
            size, y = index["size"].astype(np.int64), index["label"].astype(np.int64)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{root}: not a readable shard directory ({error}).") from None
    _check_index(root, files, len(classes), (shard, offset, size, y))
    digest = hashlib.sha256((root / MANIFEST).read_bytes())
    digest.update((root / INDEX).read_bytes())
    return ImageShards(root, files, shard, offset, size, y, classes,
                       fingerprint=digest.hexdigest())


def _check_index(root: Path, files: list[str], n_classes: int, columns: tuple) -> None:
    """Every image inside its shard and of a sane size; labels in range."""
    shard, offset, size, y = columns
    if not len(shard) == len(offset) == len(size) == len(y):
        raise InputError(f"{root / INDEX}: its arrays differ in length.")
    for name in files:
        if Path(name).name != name or not (root / name).is_file():
            raise InputError(f"{root}: shard {name!r} is missing or not a plain file name.")
    lengths = np.array([(root / name).stat().st_size for name in files], dtype=np.int64)
    bad = np.flatnonzero((shard < 0) | (shard >= len(files)))
    if not len(bad):
        bad = np.flatnonzero((offset < 0) | (size <= 0) | (size > MAX_IMAGE_BYTES)
                             | (offset + size > lengths[shard])
                             | (y < -1) | (y >= n_classes))
    if len(bad):
        i = int(bad[0])
        raise InputError(f"{root / INDEX}: image {i} (shard {shard[i]}, offset {offset[i]}, "
                         f"size {size[i]}, label {y[i]}) lies outside its shard or its "
                         f"classes; {len(bad)} such entries.")
