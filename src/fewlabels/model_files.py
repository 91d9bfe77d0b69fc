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

import io
import json
import zipfile
from pathlib import Path

from fewlabels.errors import InputError

ALLOWED_MODULES = ("keras", "fewlabels")
"""Packages a config may name classes and functions from."""
REFUSED_CLASSES = {"Lambda", "__lambda__", "TFSMLayer"}
MAX_DIMENSION = 1 << 24
"""The largest layer size or shape entry accepted (16M): beyond it, a "shape bomb"."""
SIZE_KEYS = {"units", "filters", "input_dim", "output_dim", "batch_shape", "shape",
             "batch_input_shape", "kernel_size", "target_shape", "num_heads", "key_dim"}
MAX_UNPACKED = 8 << 30
"""The largest total uncompressed size of a `.keras` archive (8 GiB)."""


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
    if zipfile.is_zipfile(path):
        _check_archive(path)
    elif _is_hdf5(path):
        _check_hdf5(path, path.name)
    else:
        raise InputError(f"{path}: neither a .keras archive nor an HDF5 file.")


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def _check_archive(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        for member in members:
            name = member.filename
            if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                raise InputError(f"{path}: archive member {name!r} escapes the archive.")
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise InputError(f"{path}: archive member {name!r} is a symbolic link.")
        if sum(m.file_size for m in members) > MAX_UNPACKED:
            raise InputError(f"{path}: unpacks to more than {MAX_UNPACKED >> 30} GiB.")
        names = {m.filename for m in members}
        if "config.json" in names:
            try:
                config = json.loads(archive.read("config.json"))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise InputError(f"{path}: config.json is not valid JSON ({err}).") from err
            _check_config(config, path)
        for name in names:
            if name.endswith(".h5"):
                _check_hdf5(io.BytesIO(archive.read(name)), f"{path}:{name}")


def _check_config(node, path, where: str = "config") -> None:
    """Walk a serialized Keras config, refusing code references and huge sizes."""
    if isinstance(node, dict):
        class_name = node.get("class_name")
        if class_name in REFUSED_CLASSES:
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
            _check_config(value, path, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_config(value, path, f"{where}[{i}]")


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
        stack = [handle]
        while stack:
            group = stack.pop()
            for name in group:
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
                    stack.append(item)
                elif isinstance(item, h5py.Dataset):
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
        if "model_config" in handle.attrs:  # a legacy full-model .h5 file
            raw = handle.attrs["model_config"]
            raw = raw.decode() if isinstance(raw, bytes) else str(raw)
            _check_config(json.loads(raw), label)
