"""fewlabels' saved models load with plain Keras once `fewlabels` is imported.

A table ensemble's `model.keras` holds fewlabels' own layers (`fewlabels.models.kernels`).
Keras finds such a layer only when its class is registered, and importing the class imports
Keras, which `import fewlabels` avoids (it stays fast). So `import fewlabels` registers the
layers when Keras itself is imported: at once if it already is, else right after its first
import. Then `keras.models.load_model("run/model.keras")` works in safe mode, as it does for
Keras's own layers.
"""

from __future__ import annotations

import sys
from importlib import import_module
from importlib.abc import MetaPathFinder
from importlib.util import find_spec

LAYERS_MODULE = "fewlabels.models.kernels"


def register_with_keras() -> None:
    """Register fewlabels' layers with Keras now if Keras is imported, else on its import."""
    if "keras" in sys.modules:
        import_module(LAYERS_MODULE)
    elif not any(isinstance(finder, _AfterKeras) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())


class _AfterKeras(MetaPathFinder):
    """Finds nothing itself: on the first `import keras` it steps aside, lets the usual
    finders find Keras, and has the module import the layers once it has run."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def run_then_register(module) -> None:
            run(module)
            import_module(LAYERS_MODULE)

        spec.loader.exec_module = run_then_register
        return spec
