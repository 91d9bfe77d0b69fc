"""The catalog read from the algorithms' source is the live registry, without TensorFlow."""

import subprocess
import sys

from fewlabels import catalog


def test_the_catalog_is_the_registry_names_summaries_defaults_and_docs():
    from fewlabels.algorithms import get, names
    from fewlabels.cli_options import param_docs

    listed = catalog.algorithms()
    assert list(listed) == names()
    for name, info in listed.items():
        cls = get(name)
        assert info.summary == cls.summary and info.needs_targets == cls.needs_targets
        assert info.defaults == cls().hyperparameters(), name
        for key in info.defaults:  # the help line: the nearest class that documents it
            live = next((param_docs(k)[key] for k in cls.__mro__ if "Args:" in (
                k.__doc__ or "") and key in param_docs(k)), "")
            assert info.docs.get(key, "") == live, (name, key)


def test_reading_the_catalog_imports_no_tensorflow():
    code = ("import sys, fewlabels.catalog as c; c.algorithms(); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
