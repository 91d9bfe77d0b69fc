"""Data loading and splitting: one loaded-data shape per kind.

- Tables: `load_table` (a text/CSV file) and `load_builtin` (scikit-learn's tables) return a
  `Table`.
- Images: `load_images` (a folder, an `.npz` or a built-in dataset name; the one door for
  image sources) returns an `ImageData`.
- Splits: `stratified_split`, `labeled_subset` and `hide_labels`, seeded and per class.
"""

from fewlabels.data.builtin import load_builtin
from fewlabels.data.images import ImageData
from fewlabels.data.sources import load_images
from fewlabels.data.splits import hide_labels, labeled_subset, stratified_split
from fewlabels.data.table import UNLABELED_MARKERS, Table, load_table

__all__ = [
    "UNLABELED_MARKERS",
    "ImageData",
    "Table",
    "hide_labels",
    "labeled_subset",
    "load_builtin",
    "load_images",
    "load_table",
    "stratified_split",
]
