"""Mutated .npz files load or raise only InputError (a seeded, bounded sample of byte edits)."""

import numpy as np

from fewlabels.data.images import load_npz
from fewlabels.errors import InputError


def test_byte_mutations_of_an_npz_load_or_raise_only_input_error(tmp_path):
    path = tmp_path / "good.npz"
    np.savez(path, x=np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4), y=np.array([0, 1]),
             classes=np.array(["a", "b"]))
    original = path.read_bytes()
    rng = np.random.default_rng(0)
    loaded = refused = 0
    for _ in range(400):
        data = bytearray(original)
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(len(data))] = rng.integers(256)
        mutated = tmp_path / "mutated.npz"
        mutated.write_bytes(bytes(data))
        try:
            x, y, _ = load_npz(mutated)
        except InputError:
            refused += 1
            continue
        assert x.dtype == np.uint8 and x.ndim == 4 and len(y) == len(x)
        loaded += 1
    assert refused > 0 and loaded + refused == 400
