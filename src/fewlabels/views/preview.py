"""Picture what an augmentation policy does: a grid of originals and augmented copies."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fewlabels.data.sources import load_images
from fewlabels.errors import InputError

PREVIEW_SIZE = (96, 96)
"""Images from a folder are resized to this for the preview."""


def sample_images(data: str | os.PathLike, n: int, seed: int = 0) -> np.ndarray:
    """`n` images from a built-in dataset name, an `.npz` file or an image folder.

    Returns:
        float32 images in 0..255, `(n, h, w, c)` (fewer if the source has fewer).
    """
    rng = np.random.default_rng(seed)
    if not Path(data).is_dir():
        x = load_images(data).x
        pick = rng.choice(len(x), size=min(n, len(x)), replace=False)
        return x[np.sort(pick)].astype(np.float32)
    # A folder: decode only the images drawn, at the preview's size.
    from fewlabels.data.folders import image_dataset, scan_image_folder

    folder = scan_image_folder(data)
    pick = rng.choice(len(folder.paths), size=min(n, len(folder.paths)), replace=False)
    subset = type(folder)([folder.paths[i] for i in sorted(pick)], np.zeros(len(pick), int),
                          folder.classes, folder.root, [])
    batches = image_dataset(subset, image_size=PREVIEW_SIZE, channels=3, batch_size=n)
    return np.concatenate([b[0].numpy() for b in batches])


def augment_preview(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    policy: str = "classic",
    n: int = 8,
    rows: int = 3,
    seed: int = 0,
    **policy_params,
) -> Path:
    """Save a PNG grid: the first row shows `n` originals, each further row one augmentation.

    Args:
        data: a built-in dataset name, an `.npz` file or an image folder.
        out: the PNG to write.
        policy: the augmentation policy (`fewlabels.views.augment.POLICIES`).
        n: images per row.
        rows: augmented rows under the originals.
        seed: chooses the images and seeds the policy.
        **policy_params: parameters of `fewlabels.views.augment.build_policy`.

    Returns:
        The path written.

    Example:
    ```python
    augment_preview("digits", "grid.png", policy="classic", vertical_flip=False)
    ```
    """
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fewlabels.views.augment import build_policy, plain_background

    if n < 1 or rows < 1:
        raise InputError(f"n and rows must be at least 1; got n={n}, rows={rows}.")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise InputError(f"{out}: the preview is a PNG file; name it *.png.")
    if not out.parent.is_dir():
        raise InputError(f"{out}: the folder {out.parent} does not exist.")
    images = sample_images(data, n, seed)
    # Cutout and the shifts fill with the plain background, as in training (views/pair.py).
    policy_params.setdefault("background", plain_background(images))
    augment = build_policy(policy, seed=seed, **policy_params)
    grid = [images] + [keras.ops.convert_to_numpy(augment(images, training=True))
                       for _ in range(rows)]
    fig, axes = plt.subplots(rows + 1, len(images), squeeze=False,
                             figsize=(1.2 * len(images), 1.25 * (rows + 1)))
    gray = images.shape[-1] == 1
    for r, batch in enumerate(grid):
        for c, image in enumerate(batch):
            ax = axes[r][c]
            shown = np.clip(image, 0, 255).astype(np.uint8)
            ax.imshow(shown[..., 0] if gray else shown, cmap="gray" if gray else None,
                      vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel("original" if r == 0 else f"{policy} {r}", fontsize=8)
    fig.suptitle(f"{data}: policy {policy!r}", fontsize=9)
    fig.tight_layout()
    tmp = out.with_name(f".{out.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out)
    return out
