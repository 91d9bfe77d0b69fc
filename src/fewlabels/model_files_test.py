"""Hostile model files are refused before Keras reads them, unless --trust-model
(docs/reliability.md)."""

import json
import zipfile

import h5py
import keras
import numpy as np
import pytest

from fewlabels import cli, training
from fewlabels.errors import FewLabelsError, InputError
from fewlabels.files import write_json
from fewlabels.model_files import check_model_file


def clean_model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))


def lambda_model():
    inputs = keras.Input((4,))
    doubled = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(doubled))


def rewrite(path, out, *, config=None, extra=None, weights=None):
    """Copy a .keras archive, replacing its config, its weights file, or adding members."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json" and config is not None:
                data = json.dumps(config(json.loads(data))).encode()
            if item.filename == "model.weights.h5" and weights is not None:
                data = weights.read_bytes()
            dst.writestr(item, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return out


def test_a_model_fewlabels_wrote_passes_the_inspection(tmp_path):
    path = tmp_path / "m.keras"
    clean_model().save(path)
    check_model_file(path)
    assert training.load_model(path).output_shape == (None, 2)


def test_a_lambda_layer_is_refused_unless_the_model_is_trusted(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    lambda_model().save(run / "model.keras")
    write_json(run / "classes.json", ["a", "b"])
    write_json(run / "config.json", {"estimator": "SelfTraining", "params": {}})
    data = tmp_path / "x.csv"
    data.write_text("1,2,3,4\n5,6,7,8\n")
    with pytest.raises(FewLabelsError, match="has a Lambda layer, which runs or loads "
                                             "arbitrary code"):
        training.load_model(run / "model.keras")
    out = tmp_path / "p.csv"
    assert cli.main(["predict", str(run), str(data), "--out", str(out)]) == 2
    assert "Lambda" in capsys.readouterr().err and not out.exists()
    assert cli.main(["predict", str(run), str(data), "--out", str(out), "--trust-model"]) == 0
    assert len(out.read_text().splitlines()) == 3


def test_a_function_from_another_module_is_refused(tmp_path):
    path = tmp_path / "m.keras"
    clean_model().save(path)

    def poison(config):
        dense = config["config"]["layers"][-1]["config"]
        dense["activation"] = {"module": "os", "class_name": "function", "config": "system",
                               "registered_name": "function"}
        return config

    with pytest.raises(FewLabelsError, match="references the function from module 'os'"):
        check_model_file(rewrite(path, tmp_path / "bad.keras", config=poison))


def test_a_shape_bomb_is_refused_before_anything_is_allocated(tmp_path):
    path = tmp_path / "m.keras"
    clean_model().save(path)

    def bomb(config):
        config["config"]["layers"][-1]["config"]["units"] = 50_000 * 50_000
        return config

    with pytest.raises(FewLabelsError, match=r"units is 2500000000, beyond"):
        check_model_file(rewrite(path, tmp_path / "bomb.keras", config=bomb))


def test_an_archive_member_escaping_the_archive_is_refused(tmp_path):
    path = tmp_path / "m.keras"
    clean_model().save(path)
    bad = rewrite(path, tmp_path / "bad.keras", extra={"../../etc/cron.d/x": b"* * * * *"})
    with pytest.raises(FewLabelsError, match="escapes the archive"):
        check_model_file(bad)


def test_hdf5_external_links_and_external_storage_are_refused(tmp_path):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = np.arange(3)
    linked = tmp_path / "linked.weights.h5"
    with h5py.File(linked, "w") as f:
        f.create_group("layers")["dense"] = h5py.ExternalLink(str(secret), "/data")
    with pytest.raises(FewLabelsError, match="/layers/dense is an HDF5 external link to"):
        check_model_file(linked)
    stored = tmp_path / "stored.weights.h5"
    (tmp_path / "raw.bin").write_bytes(b"\0" * 64)
    with h5py.File(stored, "w") as f:
        f.create_dataset("w", shape=(4,), dtype="f4",
                         external=[(str(tmp_path / "raw.bin"), 0, 16)])
    with pytest.raises(FewLabelsError, match="stores its data in external files"):
        check_model_file(stored)
    # The same link inside a .keras archive's weights file is found too.
    path = tmp_path / "m.keras"
    clean_model().save(path)
    with pytest.raises(FewLabelsError, match=r"model\.weights\.h5: /layers/dense is an HDF5 "
                                             "external link"):
        check_model_file(rewrite(path, tmp_path / "bad.keras", weights=linked))
    check_model_file(linked, trust=True)  # --trust-model: the user vouches for it


def test_transfer_weights_files_are_inspected_too(tmp_path):
    from fewlabels.models.transfer import build_transfer_model

    linked = tmp_path / "linked.weights.h5"
    with h5py.File(linked, "w") as f:
        f["x"] = h5py.ExternalLink("/etc/passwd", "/")
    with pytest.raises(FewLabelsError, match="external link to '/etc/passwd'"):
        build_transfer_model("cnn", (28, 28, 1), 3, weights=str(linked))


def test_every_other_malformed_model_file_is_named(tmp_path):
    path = tmp_path / "m.keras"
    clean_model().save(path)
    with pytest.raises(FewLabelsError, match=r"config\.json is not valid JSON"):
        check_model_file(_bad_json(path, tmp_path / "b.keras"))
    link = tmp_path / "link.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(link, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        info = zipfile.ZipInfo("evil")
        info.external_attr = (0o120777 << 16)
        dst.writestr(info, "/etc/passwd")
    with pytest.raises(FewLabelsError, match="'evil' is a symbolic link"):
        check_model_file(link)
    fake = tmp_path / "fake.h5"
    fake.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 32)
    with pytest.raises(FewLabelsError, match="not a readable HDF5 file"):
        check_model_file(fake)
    big = tmp_path / "big.h5"
    with h5py.File(big, "w") as f:
        f.create_dataset("w", shape=(2**40,), dtype="f4", chunks=(1024,))
    with pytest.raises(FewLabelsError, match="declares shape"):
        check_model_file(big)
    legacy = tmp_path / "legacy.h5"
    with h5py.File(legacy, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Lambda", "config": {}})
    with pytest.raises(FewLabelsError, match="has a Lambda layer"):
        check_model_file(legacy)


def _bad_json(path, out):
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = b"{not json" if item.filename == "config.json" else src.read(item.filename)
            dst.writestr(item, data)
    return out


def test_an_archive_that_unpacks_too_large_is_refused(tmp_path, monkeypatch):
    from fewlabels import model_files

    path = tmp_path / "m.keras"
    clean_model().save(path)
    monkeypatch.setattr(model_files, "MAX_UNPACKED", 100)
    with pytest.raises(FewLabelsError, match="unpacks to more than"):
        check_model_file(path)


def _run_bounded(code: str, limit_gib: float = 1.0, timeout: int = 120):
    """Run `code` in a subprocess whose address space is capped: a memory bomb fails there."""
    import subprocess
    import sys

    prelude = ("import resource; resource.setrlimit(resource.RLIMIT_AS, "
               f"({int(limit_gib * (1 << 30))}, {int(limit_gib * (1 << 30))}))\n")
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True,
                          text=True, timeout=timeout)


def test_an_hdf5_hard_link_cycle_is_refused_not_walked_forever(tmp_path):
    path = tmp_path / "cycle.weights.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("layers")
        group.create_dataset("kernel", data=np.zeros((2, 2)))
        group["again"] = group  # a hard link to itself: a cycle
    done = _run_bounded(f"from fewlabels.model_files import check_model_file\n"
                        f"check_model_file({str(path)!r})", timeout=60)
    assert "links back to a group already seen (a cycle)" in done.stderr


def test_a_zip_member_that_unpacks_to_gigabytes_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.keras"
    clean_model().save(path)
    with (zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive,
          archive.open("extra.weights.h5", "w", force_zip64=True) as member):
        block = bytes(64 << 20)
        for _ in range(24):  # 1.5 GiB of zeros, a few MB packed
            member.write(block)
    assert path.stat().st_size < 16 << 20
    done = _run_bounded(f"from fewlabels.model_files import check_model_file\n"
                        f"check_model_file({str(path)!r})", limit_gib=1.0)
    assert "a decompression bomb; refused" in done.stderr, done.stderr[-500:]


def _wide_input_into_dense_64(config):
    """16M input features into Dense(64): 4 GB of weights if Keras built it."""
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = [None, 16_000_000]
        if layer["class_name"] == "Dense":
            layer["config"]["units"] = 64
    return config


@pytest.mark.parametrize("edit, message", [
    (_wide_input_into_dense_64, "implies 1,024,000,000 weights"),
    (lambda c: {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "RepeatVector", "module": "keras.layers", "config": {"n": 1 << 30}}]}},
     "n is 1073741824, beyond"),
    (lambda c: json.loads("[" * 500 + "]" * 500), "nests deeper than"),
])
def test_configs_that_would_exhaust_memory_are_refused_before_keras_reads_them(
        tmp_path, edit, message):
    path = tmp_path / "m.keras"
    clean_model().save(path)
    with pytest.raises(FewLabelsError, match=message):
        check_model_file(rewrite(path, tmp_path / "edited.keras", config=edit))


def test_random_config_mutations_are_refused_by_name_or_pass_the_inspection(tmp_path):
    """A seeded sample of edits to a saved model's config: each edited file passes the
    inspection or is refused with InputError; never another exception."""
    path = tmp_path / "m.keras"
    clean_model().save(path)
    rng = np.random.default_rng(0)
    values = [None, True, -1, 0, 1 << 31, 1 << 62, "x", "os.system", "Lambda", [], {},
              [None, 1 << 40], {"class_name": "Lambda", "config": {}},
              {"module": "os", "class_name": "function", "config": "system"}]

    def mutate(node):
        if isinstance(node, dict) and node:
            key = list(node)[rng.integers(len(node))]
            if rng.random() < 0.5 and isinstance(node[key], dict | list):
                mutate(node[key])
            else:
                node[key] = values[rng.integers(len(values))]
        elif isinstance(node, list) and node:
            i = int(rng.integers(len(node)))
            if isinstance(node[i], dict | list):
                mutate(node[i])
            else:
                node[i] = values[rng.integers(len(values))]
        return node

    outcomes = {"passed": 0, "refused": 0}
    for k in range(150):
        edited = rewrite(path, tmp_path / f"e{k}.keras", config=lambda c: mutate(mutate(c)))
        try:
            check_model_file(edited)
            outcomes["passed"] += 1
        except InputError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 150
