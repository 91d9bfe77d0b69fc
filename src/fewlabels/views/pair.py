"""The two views of consistency training: a weak one and a strong one, for images or rows."""

from __future__ import annotations

import numpy as np

from fewlabels.errors import InputError
from fewlabels.views import TABULAR_VIEWS
from fewlabels.views.augment import POLICIES


def weak_and_strong(X: np.ndarray, *, images: bool, weak: str, strong: str,
                    strong_view: str = "strong", augment_params: dict | None = None,
                    noise: float = 0.1, swap_rate: float = 0.3, seed: int = 0) -> list:
    """The weak and strong view layers for images like `X`, or rows like `X`.

    `"auto"` picks `"weak"` (images) or `"noise"` (rows) for the weak view; for the strong
    view, the algorithm's `strong_view`: `"strong"` (RandAugment and Cutout; swap noise for
    rows), or `"weak"` for MixMatch, whose two views are both weak. Images on a plain
    background (`fewlabels.views.augment.plain_background`) are filled with it where the
    views move them.

    Args:
        X: the training images or rows (rows: the tabular views' scales come from them).
        images: whether `X` holds images.
        weak, strong: the views' names, or `"auto"`.
        strong_view: what `strong="auto"` stands for: `"strong"` or `"weak"`.
        augment_params: options of the image policies (`build_policy`).
        noise, swap_rate: the tabular views' strengths.
        seed: the weak view's seed; the strong view's is `seed + 100`.

    Returns:
        `[weak_layer, strong_layer]`.
    """
    from fewlabels.views.augment import build_policy, plain_background
    from fewlabels.views.tabular import build_tabular_view

    weak = weak if weak != "auto" else ("weak" if images else "noise")
    auto = {"strong": "strong" if images else "swap", "weak": weak}[strong_view]
    strong = strong if strong != "auto" else auto
    layers = []
    background = plain_background(X) if images else None
    for offset, name in enumerate((weak, strong)):
        if images:
            if name not in POLICIES:
                raise InputError(f"{name!r} is a view for rows; images take {POLICIES}.")
            layers.append(build_policy(name, **(augment_params or {}),
                                       seed=seed + 100 * offset, background=background))
        else:
            if name not in TABULAR_VIEWS:
                raise InputError(f"{name!r} is an image policy; rows take {TABULAR_VIEWS}.")
            layers.append(build_tabular_view(name, X, noise=noise, swap_rate=swap_rate,
                                             seed=seed + 100 * offset))
    return layers
