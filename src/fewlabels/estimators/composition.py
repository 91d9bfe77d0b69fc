"""How an estimator is composed of specs, and reads the flat names of earlier releases.

An estimator's `_specs` maps each parameter that takes a spec (`fewlabels.estimators.specs`)
to the spec its None stands for. Each setting of those specs keeps one flat name (its own,
the parameter's for a shorthand, or a `_renamed` one): `hidden_units` is
`model.hidden_units`, `steps` is `budget.steps`, `budget_s` is `budget.seconds`. The command
line's options, `config.json` files of earlier releases, `Estimator.like` and `for_method`
use the flat names; the constructor takes them too, with a `FutureWarning` that shows the
new form (`FlatParameters`).

Example:
```python
SelfTraining.flat_names()["threshold"]      # ("selection", "threshold")
SelfTraining._nest({"threshold": 0.8})      # {"selection": Selection(threshold=0.8)}
```
"""

from __future__ import annotations

from typing import Any, ClassVar


class FlatParameters(type):
    """Builds an estimator from the flat parameters of earlier releases
    (`SelfTraining(threshold=0.95, hidden_units=(128,))`): each name that is now a setting
    of a spec (`Selection`, `Network`, ...) goes into that spec, with a `FutureWarning` that
    shows the new form. The constructor itself takes only its own parameters, as
    scikit-learn requires."""

    def __init__(cls, name, bases, namespace) -> None:
        import inspect

        super().__init__(name, bases, namespace)
        # `inspect.signature(cls)` (scikit-learn's checks read it) is the constructor's.
        signature = inspect.signature(cls.__init__)
        cls.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])

    def __call__(cls, *args, **params):
        fields = cls.flat_names()
        flat = [k for k in params if k in fields and fields[k][0] != k]
        if flat:
            import warnings

            warnings.warn(f"{cls.__name__}({', '.join(k + '=...' for k in flat)}) is now "
                          f"{cls.new_form(flat)}; the flat form will be removed in a future "
                          "release.", FutureWarning, stacklevel=2)
            params = cls._nest(params)
        return super().__call__(*args, **params)

    def new_form(cls, names) -> str:
        """`names` (flat parameter names) as this release writes them:
        `Cls(model=Network(hidden_units=...), seed=...)`."""
        fields = cls.flat_names()
        groups: dict[str, list[str]] = {}
        for name in names:
            param, field = fields.get(name, (name, ""))
            groups.setdefault(param, [])
            if field and param != name:
                groups[param].append(field)
        parts = [f"{param}={type(cls._specs[param]).__name__}("
                 + ", ".join(f"{f}=..." for f in changed) + ")" if changed else f"{param}=..."
                 for param, changed in groups.items()]
        return f"{cls.__name__}({', '.join(parts)})"


class Composed(metaclass=FlatParameters):
    """The spec side of `Estimator`: which parameters take a spec, their settings' flat
    names, and reading specs from values, dicts and flat names."""

    _specs: ClassVar[dict[str, Any]] = {}
    """`{parameter: the spec None stands for}` of the parameters that take a spec."""
    _renamed: ClassVar[dict[str, str]] = {}
    """`{flat name: "parameter.setting"}` where a setting's flat name is not its own name
    (`budget_s` is `budget.seconds`)."""
    _unused: ClassVar[frozenset[str]] = frozenset()
    """`"parameter.setting"` names of spec settings this estimator does not take (`fit`
    refuses them; they are no options of its)."""

    @classmethod
    def flat_names(cls) -> dict[str, tuple[str, str]]:
        """`{flat name: (parameter, setting)}` of every spec setting: the setting's own
        name, the parameter's name for its shorthand (`model` is `model.architecture`), or
        its `_renamed` name."""
        renamed = {tuple(target.split(".")): flat for flat, target in cls._renamed.items()}
        out = {}
        for param, default in cls._specs.items():
            for field in default._get_param_names():
                if f"{param}.{field}" in cls._unused:
                    continue
                flat = renamed.get((param, field)) or (
                    param if field == default.shorthand else field)
                out[flat] = (param, field)
        return out

    @classmethod
    def _nest(cls, params: dict, current: dict | None = None) -> dict:
        """`params` with flat spec settings gathered into their specs, on top of the spec
        each parameter has in `params`, else in `current`, else a new one (whose unset
        settings the estimator's default fills: `Budget`). No warning: the command line's
        and `config.json`'s way."""
        fields = cls.flat_names()
        own, changes = {}, {}
        for name, value in params.items():
            if name in fields and fields[name][0] != name:
                param, field = fields[name]
                changes.setdefault(param, {})[field] = value
            else:
                own[name] = value
        for param, change in changes.items():
            kind = type(cls._specs[param])
            base = own.get(param, (current or {}).get(param))
            spec = kind() if base is None else kind.of(base, param)
            if spec is not None:  # (`finetune=False` leaves no fine-tuning to set)
                own[param] = spec.replace(**change)
        for param in cls._specs:  # a spec's settings read back from JSON
            if isinstance(own.get(param), dict):
                own[param] = type(cls._specs[param]).of(own[param], param)
        return own

    def _spec(self, param: str):
        """The spec `param` stands for: as given, or the default for None (a `Budget`'s
        unset settings filled from the default)."""
        default, value = self._specs[param], getattr(self, param)
        spec = default.replace() if value is None else type(default).of(value, param)
        if spec is not None and hasattr(spec, "filled"):
            spec = spec.filled(default)
        return spec

    def _check_specs(self) -> None:
        """Validate each spec parameter's settings, named as `model.dropout`."""
        for param in self._specs:
            spec = self._spec(param)
            if spec is not None:
                spec.check(param)
