"""Views: everything that turns a training example into the inputs a model sees.

- `base`: `DataView`, the base layer of every view (runs inside `tf.data` on any backend).
- `augment`: the named image policies (`none`, `classic`, `weak`, `strong`).
- `randaugment`: RandAugment with Cutout, the strong image view.
- `tabular`: feature noise and swap noise, the views of table rows.
- `preview`: `augment_preview`, a grid of what each policy does to real images.
"""

TABULAR_VIEWS = ("none", "noise", "swap")
"""The views of table rows (`fewlabels.views.tabular`), named here so that checking a
parameter does not import Keras."""
