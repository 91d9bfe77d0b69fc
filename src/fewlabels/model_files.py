"""Model files are code: inspect them before Keras reads them (docs/security.md).

Keras's `safe_mode` refuses Lambda layers, but a hostile `.keras` or `.h5` file has more
ways in (docs/security.md lists the advisories): a config naming an arbitrary module's
function, a layer that reads files (`TFSMLayer`), an HDF5 external link or external
dataset storage pointing at host files, a zip member with `..` in its name, or a layer
declaring a billion units so that building it exhausts memory. `check_model_file` looks at
the file's structure *without* deserializing anything, and refuses these, naming what it
found. `--trust-model` (`trust=True`) is the only way around it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from fewlabels.errors import InputError

ALLOWED_MODULES = ("keras", "fewlabels")
"""Packages a config may name classes and functions from."""
REFUSED_CLASSES = {"Lambda", "__lambda__", "TFSMLayer"}
MAX_DIMENSION = 1 << 24
"""The largest layer size or shape entry accepted (16M): beyond it, a "shape bomb"."""
SIZE_KEYS = {"units", "filters", "input_dim", "output_dim", "batch_shape", "shape",
             "batch_input_shape", "kernel_size", "target_shape", "num_heads", "key_dim", "n"}
MAX_LAYER_PARAMETERS = 1 << 28
"""The most weights one layer may imply (256M, 1 GiB in float32): a layer's `units` or
`filters` times the largest dimension the config declares."""
MAX_UNPACKED = 8 << 30
"""The largest total uncompressed size of a `.keras` archive (8 GiB)."""
MAX_EXPANSION = 100
"""A member that unpacks to more than this multiple of its packed size (beyond 1 MiB) is a
decompression bomb: Keras stores its archives uncompressed."""
MAX_HDF5_OBJECTS = 100_000
MAX_HDF5_DEPTH = 64
MAX_CONFIG_DEPTH = 200
"""Bounds of the walks over an HDF5 file's groups and over a config's nesting."""


def check_model_file(path: str | Path, *, trust: bool = False) -> None:
    """Refuse a model or weights file that can run code, read host files or exhaust memory.

    Args:
        path: a `.keras` archive, or an `.h5` / `.weights.h5` file.
        trust: skip the checks (the user vouches for the file: `--trust-model`).

    Raises:
        InputError: naming the file and what was found.

    Example:
    ```python
    check_model_file("run/model.keras")   # raises on a Lambda layer, an external link, ...
    ```
    """
    if trust:
        return
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            _check_archive(path)
        elif _is_hdf5(path):
            _check_hdf5(path, path.name)
        else:
            raise InputError(f"{path}: neither a .keras archive nor an HDF5 file.")
    except InputError:
        raise
    except Exception as err:  # any damage to the archive or the HDF5 structure
        raise InputError(f"{path}: not a readable model file ({type(err).__name__}: {err}).") \
            from err


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def _check_archive(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        for member in members:
            _check_member(path, member)
        if sum(m.file_size for m in members) > MAX_UNPACKED:
            raise InputError(f"{path}: unpacks to more than {MAX_UNPACKED >> 30} GiB.")
        names = {m.filename for m in members}
        if "config.json" in names:
            if archive.getinfo("config.json").file_size > 64 << 20:
                raise InputError(f"{path}: config.json is over 64 MiB; refused.")
            try:
                config = json.loads(archive.read("config.json"))
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
                raise InputError(f"{path}: config.json is not valid JSON ({err}).") from err
            _check_config(config, path)
            _check_layer_sizes(config, path)
        for name in sorted(names):
            if name.endswith(".h5"):
                with tempfile.TemporaryFile() as copy:  # streamed: memory stays bounded
                    with archive.open(name) as member:
                        shutil.copyfileobj(member, copy, 1 << 20)
                    copy.seek(0)
                    _check_hdf5(copy, f"{path}:{name}")


def _check_member(path: Path, member: zipfile.ZipInfo) -> None:
    """Refuse a member that escapes the archive, is a link, or is a decompression bomb."""
    name = member.filename
    if name.startswith(("/", "\\")) or ".." in Path(name).parts:
        raise InputError(f"{path}: archive member {name!r} escapes the archive.")
    if (member.external_attr >> 16) & 0o170000 == 0o120000:
        raise InputError(f"{path}: archive member {name!r} is a symbolic link.")
    if member.file_size > 1 << 20 and member.file_size > MAX_EXPANSION * max(
            member.compress_size, 1):
        raise InputError(
            f"{path}: archive member {name!r} unpacks from {member.compress_size} bytes to "
            f"{member.file_size}, a decompression bomb; refused.")


def _check_config(node, path, where: str = "config", depth: int = 0) -> None:
    """Walk a serialized Keras config, refusing code references and huge sizes."""
    if depth > MAX_CONFIG_DEPTH:
        raise InputError(f"{path}: the config nests deeper than {MAX_CONFIG_DEPTH} levels; "
                         "refused.")
    if isinstance(node, dict):
        class_name = node.get("class_name")
        if isinstance(class_name, str) and class_name in REFUSED_CLASSES:
            raise InputError(
                f"{path}: {where} has a {class_name} layer, which runs or loads arbitrary "
                "code; refused (pass --trust-model only for a file you trust)."
            )
        module = node.get("module")
        if isinstance(module, str) and module.split(".")[0] not in ALLOWED_MODULES:
            kind = "function" if class_name == "function" else f"class {class_name!r}"
            raise InputError(
                f"{path}: {where} references the {kind} from module {module!r}, outside "
                f"{ALLOWED_MODULES}; refused (pass --trust-model only for a file you trust)."
            )
        for key, value in node.items():
            if key in SIZE_KEYS:
                _check_sizes(value, path, f"{where}.{key}")
            _check_config(value, path, f"{where}.{key}", depth + 1)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_config(value, path, f"{where}[{i}]", depth + 1)


def _integers(node, keys: set[str]):
    """Every integer under a key in `keys`, anywhere in a config (iteratively)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in keys:
                    values = value if isinstance(value, list) else [value]
                    yield from (v for v in values if isinstance(v, int)
                                and not isinstance(v, bool))
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _check_layer_sizes(config, path) -> None:
    """Refuse a config whose layers would need more weights than any real model.

    A layer's weights are bounded by its `units` (or `filters`) times the widest input it
    can see, which is at most the largest dimension the config declares anywhere: a Dense
    layer on a 16M-feature input, or a RepeatVector of a billion, is refused here, before
    Keras allocates it.
    """
    widest = max(_integers(config, SIZE_KEYS), default=1)
    for units in _integers(config, {"units", "filters", "output_dim", "n"}):
        if units * widest > MAX_LAYER_PARAMETERS:
            raise InputError(
                f"{path}: a layer of {units} units on inputs up to {widest} wide implies "
                f"{units * widest:,} weights, beyond the {MAX_LAYER_PARAMETERS:,} fewlabels "
                "accepts (a shape that would exhaust memory); refused.")


def _check_sizes(value, path, where: str) -> None:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and v > MAX_DIMENSION:
            raise InputError(
                f"{path}: {where} is {v}, beyond the {MAX_DIMENSION} fewlabels accepts (a "
                "shape that would exhaust memory); refused."
            )


def _check_hdf5(source, label: str) -> None:
    """Refuse external links and externally stored datasets (they read host files)."""
    import h5py

    try:
        handle = h5py.File(source, "r")
    except OSError as err:
        raise InputError(f"{label}: not a readable HDF5 file ({err}).") from err
    with handle:
        _walk_hdf5(handle, label)
        if "model_config" in handle.attrs:  # a legacy full-model .h5 file
            raw = handle.attrs["model_config"]
            raw = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                config = json.loads(raw)
            except (json.JSONDecodeError, RecursionError) as err:
                raise InputError(f"{label}: its model config is not valid JSON.") from err
            _check_config(config, label)
            _check_layer_sizes(config, label)


def _walk_hdf5(handle, label: str) -> None:
    """Visit every group and dataset once (hard links can make cycles), bounded in depth and
    count, refusing external links, external storage and huge declared datasets."""
    import h5py

    seen = {handle.id}
    stack = [(handle, 0)]
    count = 0
    while stack:
        group, depth = stack.pop()
        if depth > MAX_HDF5_DEPTH:
            raise InputError(f"{label}: groups nest deeper than {MAX_HDF5_DEPTH}; refused.")
        for name in group:
            count += 1
            if count > MAX_HDF5_OBJECTS:
                raise InputError(f"{label}: more than {MAX_HDF5_OBJECTS} objects; refused.")
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise InputError(
                    f"{label}: {group.name.rstrip('/')}/{name} is an HDF5 external link to "
                    f"{link.filename!r}; refused (it would read a file outside the model)."
                )
            if isinstance(link, h5py.SoftLink):
                continue
            item = group[name]
            if isinstance(item, h5py.Group):
                if item.id in seen:
                    raise InputError(f"{label}: {item.name} links back to a group already "
                                     "seen (a cycle); refused.")
                seen.add(item.id)
                stack.append((item, depth + 1))
            elif isinstance(item, h5py.Dataset):
                _check_dataset(item, label)


def _check_dataset(item, label: str) -> None:
    if item.external:
        raise InputError(
            f"{label}: dataset {item.name} stores its data in external files "
            f"{[e[0] for e in item.external]}; refused."
        )
    if any(d > MAX_DIMENSION * 64 for d in item.shape):
        raise InputError(
            f"{label}: dataset {item.name} declares shape {item.shape}; "
            "refused (a shape that would exhaust memory)."
        )
