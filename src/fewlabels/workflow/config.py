"""Run configurations from a file: a TOML file written by hand, or a run's `config.json`.

`fewlabels fit --config run.toml` reads every `fit` option from the file, and options given
on the command line override it. A finished run's `config.json` can be given back to
reproduce the run: its method, parameters, data and reading options are read from it.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from fewlabels.errors import InputError
from fewlabels.estimators import ESTIMATORS, estimator_class

RUN_OPTIONS = ("data", "method", "test", "test_fraction", "labels_per_class", "baseline",
               "stream_unlabeled", "label_column", "delimiter", "header", "encoding",
               "image_size", "channels", "unlabeled", "unlabeled_dir", "on_bad_image",
               "checkpoint_steps", "checkpoint_seconds", "verbose", "tensorboard", "strategy",
               "labels")
"""`fit` options that are not estimator or algorithm parameters."""
RECORD_ONLY = {"fewlabels_version", "estimator", "input_shape", "versions", "data_sha256",
               "feature_names", "n_per_class", "test_data", "read", "params",
               "labels_sha256", "labels_added"}
"""Keys of a run's `config.json` that record the run rather than set an option."""


def read_run_config(path: str | Path) -> dict[str, Any]:
    """The `fit` options a configuration file sets, as `{option: value}`.

    Args:
        path: a `.toml` file (flat `option = value` lines; `[params]` and `[read]` tables are
            merged in) or a run's `config.json`.

    Returns:
        Option names as `fit_run` and the command line take them (`threshold`, `method`,
        `data`, ...). Estimator and algorithm parameters are not checked here: the estimator
        checks them, naming any it does not take.

    Example:
    ```python
    options = read_run_config("runs/demo/config.json")
    fit_run(options.pop("data"), "runs/again", **options)
    ```
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"{path}: cannot read the configuration ({err.strerror or err}).") \
            from err
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start}); save the configuration "
                         "as UTF-8.") from err
    try:
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InputError(f"{path}: not a valid {path.suffix or 'configuration'} file "
                         f"({err}).") from err
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a configuration is a table of options.")
    options = {k: v for k, v in raw.items() if k not in RECORD_ONLY}
    for table in ("read", "params"):
        value = raw.get(table, {})
        if not isinstance(value, dict):
            raise InputError(f"{path}: '{table}' must be a table of options.")
        if table == "params" and raw.get("estimator") in ESTIMATORS:
            # the estimator says which options its recorded parameters are (a recipe's
            # nested teacher, say)
            value = estimator_class(raw["estimator"]).options_of(value)
        options.update(value)
    if "estimator" in raw:  # a run's config.json: "test" records where its test data came
        options.pop("test", None)  # from ("given", "held out ..."); "test_data" is the file
        if isinstance(raw.get("test_data"), str):
            options["test"] = raw["test_data"]
    for nested in ("algorithm_params", "augment_params"):  # flat options on the command line
        values = options.pop(nested, None) or {}
        if not isinstance(values, dict):
            raise InputError(f"{path}: '{nested}' must be a table of options.")
        options.update(values)
    options.pop("out", None)  # the run directory is always the command's own
    options = {k.replace("-", "_"): v for k, v in options.items()}
    for key in INPUT_PATHS:
        options[key] = _beside(path, key, options.get(key))
    return {k: v for k, v in options.items() if v is not None or k not in INPUT_PATHS}


INPUT_PATHS = ("data", "test", "unlabeled_dir")
"""Options naming files or folders the run reads: relative to the configuration's folder."""


def _beside(config: Path, key: str, value):
    """An input path of a configuration file: a relative one names a file beside the
    configuration when there is one there (else it is kept as written: a built-in dataset
    name, or a path from the current folder as an older run's `config.json` recorded it)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{config}: '{key}' must be a path (text); got {value!r}.")
    if Path(value).is_absolute():
        return value
    beside = config.parent / value
    return str(beside) if beside.exists() else value
