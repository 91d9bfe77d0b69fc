"""The conformance suite, run against every registered algorithm (`fewlabels.testing`)."""

import pytest

from fewlabels.algorithms import names
from fewlabels.testing import conformance as c

TOY = '''
from keras import ops

from fewlabels import targets
from fewlabels.algorithms.base import Algorithm, masked_cross_entropy
from fewlabels.algorithms.registry import register


@register
class Toy(Algorithm):
    registry_name = "toy-match"
    summary = "a toy: weak-view pseudo-labels above 0.5 train the strong view"
    weak_is_target = True

    def unsupervised(self, weak, strong, batch, student):
        probs = ops.stop_gradient(weak)
        mask = targets.confidence_mask(probs, 0.5)
        hard = targets.hard_targets(probs)
        return {"loss": masked_cross_entropy(hard, strong, mask), "mask": mask,
                "pseudo_labels": ops.argmax(hard, axis=-1)}
'''


def test_one_new_module_is_a_registered_conformant_documented_method(tmp_path, monkeypatch,
                                                                      capsys):
    import sys

    from fewlabels import cli
    from fewlabels.algorithms import discover, methods_table, registry

    package = tmp_path / "more_algorithms"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toy.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    try:
        assert discover("more_algorithms") == ["toy"]
        assert "toy-match" in names() and "toy-match" in c.cases()
        for check in c.CHECKS.values():  # the whole suite runs on it, driven by its class
            check("toy-match")
        assert "| `toy-match` | a toy: weak-view pseudo-labels" in methods_table()
        with pytest.raises(SystemExit):  # its options, from its signature and docstring
            cli.main(["fit", "--method", "toy-match", "--help"])
        assert "toy-match own options" in capsys.readouterr().out
    finally:
        for name in [m for m in sys.modules if m.startswith("more_algorithms")]:
            del sys.modules[name]


def test_the_docs_table_of_methods_is_the_registrys():
    from pathlib import Path

    from fewlabels.algorithms import methods_table

    docs = Path(__file__).parents[3] / "docs" / "consistency.md"
    assert methods_table() in docs.read_text(), (
        "regenerate the table in docs/consistency.md: python -m fewlabels.algorithms")


@pytest.mark.parametrize("check", c.CHECKS)
@pytest.mark.parametrize("name", names())
def test_every_registered_algorithm_passes(name, check):
    c.CHECKS[check](name)


@pytest.mark.parametrize("name", names())
def test_config_round_trips_and_a_saved_model_reloads_safely(name, tmp_path):
    c.check_config_and_saving(name, tmp_path)


def test_the_weak_is_target_check_catches_an_algorithm_that_trains_the_weak_view(
        monkeypatch):
    from fewlabels.algorithms import get

    monkeypatch.setattr(get("pseudo-label"), "weak_is_target", True)  # a false claim
    with pytest.raises(AssertionError, match="takes a gradient through the weak view"):
        c.check_weak_is_target_is_honest("pseudo-label")


def test_the_gradient_check_catches_a_consistency_term_that_carries_no_gradient(monkeypatch):
    import keras

    from fewlabels.algorithms import get

    fixmatch = get("fixmatch")
    honest = fixmatch.unsupervised

    def detached(self, weak, strong, batch, student):  # the bug: strong predictions detached
        return honest(self, weak, keras.ops.stop_gradient(strong), batch, student)

    monkeypatch.setattr(fixmatch, "unsupervised", detached)
    with pytest.raises(AssertionError, match="carries no gradient with its mask on"):
        c.check_gradient_follows_the_mask("fixmatch")


def test_the_suite_names_a_backend_it_cannot_take_gradients_on(monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(NotImplementedError, match="need the tensorflow or jax backend; Keras "
                                                  "runs on 'torch'"):
        c.gradient(lambda values: (values[0], None), [1.0])


def test_mixmatch_and_the_ema_refuse_bad_settings_by_name():
    from fewlabels.algorithms import create
    from fewlabels.errors import FewLabelsError
    from fewlabels.testing.conformance import student

    with pytest.raises(FewLabelsError, match="temperature must be in"):
        create("mixmatch", temperature=0.0)
    with pytest.raises(FewLabelsError, match=r"alpha must be in \(0, 2\]; got -1"):
        create("mixmatch", mixup_alpha=-1)
    with pytest.raises(FewLabelsError, match=r"alpha must be in \(0, 2\]; got 5"):
        create("mixmatch", mixup_alpha=5)
    from fewlabels.ssl_model import SemiSupervisedModel

    with pytest.raises(FewLabelsError, match=r"ema_momentum must be in \[0, 1\); got 1.0"):
        SemiSupervisedModel(student(), create("fixmatch"), 4, ema_momentum=1.0)


@pytest.mark.parametrize("alpha", [0.75, 2.0])
def test_mixups_beta_draw_has_the_beta_distributions_mean_and_variance(alpha):
    import keras
    import numpy as np
    import tensorflow as tf

    from fewlabels.algorithms.mixmatch import symmetric_beta

    generator = keras.random.SeedGenerator(0)
    draw = tf.function(lambda: symmetric_beta(alpha, generator))
    draws = np.array([float(draw()) for _ in range(4000)])
    assert draws.min() >= 0 and draws.max() <= 1
    assert abs(draws.mean() - 0.5) < 0.025  # 5 standard errors
    assert abs(draws.var() - 1 / (4 * (2 * alpha + 1))) < 0.01  # Beta(a, a)'s variance


def test_an_earlier_releases_hyperparameter_name_is_read_with_a_warning():
    from fewlabels.algorithms import create

    with pytest.warns(FutureWarning, match="alpha is now mixup_alpha"):
        old = create("mixmatch", alpha=0.5)  # a config.json of an earlier release
    assert old.mixup_alpha == 0.5 and "alpha" not in old.get_config()
    with pytest.warns(FutureWarning):  # and a saved model's config
        assert type(old).from_config({**old.get_config(), "alpha": 0.25}).mixup_alpha == 0.25
