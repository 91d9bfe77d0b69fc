"""Progress bars for the long phases outside training.

Training shows its own lines (one per epoch or stage). The other phases that can take
minutes on a large image set are checking a folder's files before training, decoding them,
labelling the unlabeled pool, and predicting over a folder; each counts its items on a Keras
progress bar. Bars are off by default in the library (as scikit-learn's `verbose=0`);
`fit_run` and `predict_run` (and so the CLI) turn them on at `verbose >= 1`, or any code can:

```python
from fewlabels import progress

with progress.shown():
    folder = scan_image_folder("photos/")  # a bar while 60,000 files are checked
```

Phases shorter than `MIN_ITEMS` items show nothing. On a terminal the bar redraws in place;
in a log (stdout not a terminal) it prints one line when the phase ends.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

MIN_ITEMS = 2000
"""The fewest items a phase must count for its bar to show."""

_SHOWN: ContextVar[bool] = ContextVar("fewlabels_progress_shown", default=False)


@contextmanager
def shown(verbose: int = 1) -> Iterator[None]:
    """Show progress bars inside the `with` block when `verbose >= 1`.

    Args:
        verbose: 0 shows none (the library's default); 1 or more shows them.

    Example:
    ```python
    with progress.shown(verbose):
        run()
    ```
    """
    token = _SHOWN.set(verbose >= 1)
    try:
        yield
    finally:
        _SHOWN.reset(token)


def counted(items: Iterable[T], total: int, what: str,
            size: Callable[[T], int] = lambda item: 1,
            min_items: int | None = None) -> Iterator[T]:
    """Yield `items`, counting them on a progress bar when bars are shown.

    Args:
        items: the items (files, batches, ...).
        total: how many units the items hold in all.
        what: the phase, printed above the bar (`"Checking 60000 images"`).
        size: the units one item holds (a batch: its length).
        min_items: the fewest units for a bar to show (default `MIN_ITEMS`).

    Returns:
        An iterator over `items`, unchanged.

    Example:
    ```python
    for x in counted(batches, total=len(pool), what="Labelling the pool", size=len):
        ...
    ```
    """
    if not _SHOWN.get() or total < (MIN_ITEMS if min_items is None else min_items):
        yield from items
        return
    import keras

    print(f"{what}:", flush=True)
    bar = keras.utils.Progbar(total, verbose=1 if sys.stdout.isatty() else 2,
                              unit_name="item")
    done = 0
    for item in items:
        yield item
        done += size(item)
        bar.update(min(done, total))
    if done < total:  # the items held fewer units than announced (skipped files)
        bar.update(done, finalize=True)
