"""`fewlabels pretrain`: a network's body pretrained on a data set's items, written to a file
that every method's network starts from (`fit --backbone-weights FILE`).

It writes `FILE` (`.weights.h5`: the body's weights, `fewlabels.models.body`) and beside it
`<name>.pretrain.json`: the objective, the network and its sizes, the input shape, the data
and its SHA-256, the settings, the loss per epoch and the time, and the `fit` options that
build the same network.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fewlabels.errors import InputError
from fewlabels.files import write_json
from fewlabels.models.body import SUFFIX, save_body_weights
from fewlabels.workflow.rundir import check_replaceable, versions

NETWORK_OPTIONS = ("architecture", "hidden_units", "cnn_widths", "activation", "dropout")
"""The `Network` settings a pretrained body is tied to (the fit must use the same)."""


def pretrain_run(
    data: str | Path,
    out: str | Path,
    *,
    steps: int = 1000,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    temperature: float | None = None,
    corruption: float = 0.6,
    horizontal_flip: bool = True,
    seed: int = 0,
    overwrite: bool = False,
    verbose: int = 0,
    read: dict | None = None,
    network: dict | None = None,
) -> dict:
    """Pretrain a network's body on DATA's items (labeled and unlabeled; labels unused).

    Args:
        data: a table, an image folder, an `.npz` or a built-in image dataset, as `fit`
            reads it.
        out: the weights file to write (its name ends in `.weights.h5`).
        steps, batch_size, learning_rate, temperature, corruption, seed: `pretrain`'s.
        horizontal_flip: images: whether the views may mirror an image (turn it off for
            digits and text).
        overwrite: replace an existing `out`.
        verbose: Keras's `fit` verbosity.
        read: how to read DATA (`label_column`, `delimiter`, `header`, `encoding` for
            tables; `image_size`, `channels`, `unlabeled`, `unlabeled_dir`, `on_bad_image`
            and `stream_unlabeled` for images: the unlabeled images read from disk batch by
            batch, in bounded memory).
        network: the `Network` settings (`NETWORK_OPTIONS`) the later fit will use.

    Returns:
        The record written to `<name>.pretrain.json`.

    Example:
    ```python
    pretrain_run("photos/", "body.weights.h5", steps=2000, read={"image_size": 64})
    fit_run("photos/", "run/", method="fixmatch", backbone_weights="body.weights.h5")
    ```
    """
    from fewlabels.estimators.pretrain import pretrain
    from fewlabels.estimators.specs import Network
    from fewlabels.files import file_sha256

    out = _checked_out(out, data, overwrite)
    settings = {k: v for k, v in (network or {}).items() if k in NETWORK_OPTIONS}
    spec = Network(**settings)
    spec.check("network")
    x, files, read_options, fingerprint = _items(data, read or {})
    done = pretrain(x, network=spec, steps=steps, batch_size=batch_size,
                    learning_rate=learning_rate, temperature=temperature,
                    corruption=corruption, augment_params={"horizontal_flip": horizontal_flip},
                    seed=seed, verbose=verbose, unlabeled_files=files)
    items = len(x) + (0 if files is None else len(files))
    with tempfile.TemporaryDirectory(dir=out.parent) as work:
        written = save_body_weights(done.network, Path(work) / out.name)
        os.replace(written, out)
    record = {
        "objective": done.objective, "network": done.network_kind,
        "network_options": {k: _plain(getattr(spec, k)) for k in NETWORK_OPTIONS},
        "input_shape": list(x.shape[1:]), "items": items,
        "streamed": 0 if files is None else len(files), "data": str(data),
        "data_sha256": fingerprint if fingerprint else file_sha256(data),
        "read": read_options, "steps": done.steps, "batch_size": min(batch_size, items),
        "learning_rate": learning_rate, "temperature": done.temperature,
        "corruption": corruption if done.objective == "scarf" else None,
        "horizontal_flip": horizontal_flip, "seed": seed,
        "losses": [round(v, 5) for v in done.losses], "seconds": round(done.seconds, 1),
        "fit_options": _fit_options(out, done.network_kind, spec, x.ndim == 4, read_options),
        "versions": versions(),
    }
    write_json(sidecar(out), record)
    return record


def sidecar(out: str | Path) -> Path:
    """`<name>.pretrain.json` beside the weights file `<name>.weights.h5`."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(SUFFIX) + ".pretrain.json")


def _checked_out(out, data, overwrite: bool) -> Path:
    """The output file, refused before any work when it cannot or must not be written."""
    out = Path(out)
    if not out.name.endswith(SUFFIX):
        raise InputError(f"{out}: a weights file name must end in {SUFFIX}.")
    if not out.parent.is_dir():
        raise InputError(f"{out}: the folder {out.parent} does not exist.")
    if Path(data).exists() and out.resolve() == Path(data).resolve():
        raise InputError(f"{out}: is the input data; choose another file.")
    check_replaceable(out, overwrite=overwrite, folder=False)
    check_replaceable(sidecar(out), overwrite=overwrite, folder=False)
    return out


def _items(data, read: dict) -> tuple[np.ndarray, Any, dict, str | None]:
    """DATA's items, labeled and unlabeled (in memory, and the streamed files or None), how
    they were read, and the images' fingerprint (None for a table: the file's SHA-256 is
    taken)."""
    from fewlabels.data.sources import is_image_source, load_images
    from fewlabels.data.table import load_table

    image_keys = ("image_size", "channels", "unlabeled", "unlabeled_dir", "on_bad_image",
                  "stream_unlabeled")
    table_keys = ("label_column", "delimiter", "header", "encoding")
    if is_image_source(data):
        options = {k: read[k] for k in image_keys if read.get(k) not in (None, False)}
        images = load_images(data, **options)
        return np.asarray(images.x), images.unlabeled_files, options, images.fingerprint
    if read.get("stream_unlabeled"):
        raise InputError(f"{data}: stream_unlabeled reads image folders and shards; a table "
                         "is read whole.")
    options = {k: read[k] for k in table_keys if read.get(k) is not None}
    return np.asarray(load_table(data, **options).x, dtype=np.float32), None, options, None


def _fit_options(out: Path, kind: str, spec, images: bool, read: dict) -> list[str]:
    """The `fit` options that build the network this body belongs to: the sizes that differ
    from `Network()`'s (a body of the default network needs no size option)."""
    from fewlabels.estimators.specs import Network

    default = Network()
    options = ["--backbone-weights", str(out)]
    if kind == "cnn" and tuple(spec.cnn_widths) != tuple(default.cnn_widths):
        options += ["--cnn-widths", ",".join(map(str, spec.cnn_widths))]
    if kind == "mlp" and tuple(spec.hidden_units) != tuple(default.hidden_units):
        options += ["--hidden-units", ",".join(map(str, spec.hidden_units))]
    if kind == "mlp" and spec.activation != default.activation:
        options += ["--activation", spec.activation]
    if spec.architecture != "auto":
        options += ["--architecture", str(spec.architecture)]
    if images and read.get("image_size") is not None:
        options += ["--image-size", str(read["image_size"])]
    if images and read.get("channels") is not None:
        options += ["--channels", str(read["channels"])]
    return options


def _plain(value: Any):
    return list(value) if isinstance(value, tuple) else value
