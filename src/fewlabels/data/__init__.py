"""Data loading and splitting: text tables, built-in datasets and seeded stratified splits."""

from fewlabels.data.builtin import load_builtin
from fewlabels.data.splits import hide_labels, labeled_subset, stratified_split
from fewlabels.data.table import UNLABELED_MARKERS, Table, load_table

__all__ = [
    "UNLABELED_MARKERS",
    "Table",
    "hide_labels",
    "labeled_subset",
    "load_builtin",
    "load_table",
    "stratified_split",
]
