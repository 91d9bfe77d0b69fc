"""Small tables and image folders for the tests and benchmarks that run `fewlabels fit` on
files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def partly_labeled_wine(folder: Path, per_class: int = 10, seed: int = 0) -> Path:
    """scikit-learn's wine as `folder/wine.txt`: `per_class` labels per class (a seeded
    choice), the other rows unlabeled (-1), in the seed text format.

    Returns:
        The file.
    """
    from fewlabels.data.builtin import load_builtin

    data = load_builtin("wine")
    rng = np.random.default_rng(seed)
    y = np.full(len(data.y), -1)
    for c in np.unique(data.y):
        rows = rng.permutation(np.flatnonzero(data.y == c))[:per_class]
        y[rows] = data.y[rows]
    path = Path(folder) / "wine.txt"
    np.savetxt(path, np.column_stack([data.x, y]), fmt="%g")
    return path


def digit_folder(root: Path) -> Path:
    """scikit-learn's digits 0-2 as 8x8 PNG files under `root/digits`: 10 per class in class
    folders (`d0`, `d1`, `d2`), 15 in `unlabeled/`.

    Returns:
        The folder.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = Path(root) / "digits"
    counts = {0: 0, 1: 0, 2: 0}
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        if label not in counts or sum(counts.values()) >= 45:
            continue
        folder = f"d{label}" if counts[label] < 10 else "unlabeled"
        counts[label] += counts[label] < 15
        path = root / folder / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(image * 16, 0, 255).astype(np.uint8)).save(path)
    return root
