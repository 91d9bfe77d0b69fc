"""The algorithm registry as it can be read without importing it (and so TensorFlow).

The algorithms are Keras layers, so importing `fewlabels.algorithms` imports TensorFlow: about
six seconds on two cores. `fewlabels methods`, `fewlabels fit --help` and the building of
`fit`'s options need only what each registered class declares: its name, its summary, its
constructor's hyperparameters with their defaults, and their help lines. This module reads
those from the modules' source with `ast` (nothing is executed) in the registry's order
(modules sorted by name), following each class's bases inside the package. A test keeps it
equal to the live registry (`catalog_test.py`), so the two cannot drift apart, and adding an
algorithm is still one module.

Example:
```python
from fewlabels.catalog import algorithms

algorithms()["fixmatch"].defaults["threshold"]   # 0.95
```
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).parent / "algorithms"
_NOT_ALGORITHMS = {"__init__", "__main__", "base", "registry"}
_LAYER_ARGUMENTS = {"self", "kwargs"}


@dataclasses.dataclass(frozen=True)
class Param:
    """One constructor parameter: its default and its annotation, as written."""

    name: str
    default: Any
    annotation: str


@dataclasses.dataclass(frozen=True)
class AlgorithmInfo:
    """What a registered algorithm class declares, read from its source."""

    name: str
    summary: str
    needs_targets: bool
    params: tuple[Param, ...]
    docs: dict[str, str]

    @property
    def defaults(self) -> dict[str, Any]:
        """`{hyperparameter: default}`, in the order `hyperparameters()` gives them."""
        return {p.name: p.default for p in self.params}


@dataclasses.dataclass
class _Class:
    name: str
    bases: list[str]
    registered: bool
    attributes: dict[str, Any]
    params: list[Param]
    docstring: str


def algorithms() -> dict[str, AlgorithmInfo]:
    """Every registered algorithm, by `registry_name`, in the registry's order: those of
    `fewlabels/algorithms/`, read from source, then any other the live registry holds when
    it is loaded already (an algorithm registered from another package)."""
    import sys

    found = dict(_from_source())
    registry = sys.modules.get("fewlabels.algorithms.registry")
    if registry is not None:
        for name in registry.names():
            if name not in found:
                found[name] = _from_class(registry.get(name))
    return found


def _from_class(cls: type) -> AlgorithmInfo:
    """The entry of a class registered at run time (its module is imported already)."""
    import inspect

    params: dict[str, Param] = {}
    docs: dict[str, str] = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("keras"):
            break
        for name, p in inspect.signature(klass.__init__).parameters.items():
            if name not in _LAYER_ARGUMENTS and p.kind is not p.VAR_KEYWORD:
                params.setdefault(name, Param(name, p.default, str(p.annotation)))
        for key, value in param_docs(inspect.getdoc(klass) or "").items():
            docs.setdefault(key, value)
    return AlgorithmInfo(name=cls.registry_name, summary=cls.summary,
                         needs_targets=bool(cls.needs_targets),
                         params=tuple(params.values()), docs=docs)


@functools.cache
def _from_source() -> tuple[tuple[str, AlgorithmInfo], ...]:
    """`fewlabels/algorithms/`'s algorithms, read from their source (once)."""
    classes: dict[str, _Class] = {}
    order: list[str] = []
    for path in sorted(PACKAGE.glob("*.py"), key=lambda p: p.stem):
        if (path.stem in _NOT_ALGORITHMS and path.stem != "base") or path.stem.endswith("_test") \
                or path.stem.startswith("_"):
            continue
        for found in _classes(ast.parse(path.read_text(encoding="utf-8"))):
            classes[found.name] = found
            if found.registered and path.stem not in _NOT_ALGORITHMS:
                order.append(found.name)
    infos = [_info(_chain(class_name, classes)) for class_name in order]
    return tuple((info.name, info) for info in infos)


def method_names() -> list[str]:
    """The algorithms `fit --method` takes: all but `supervised` (a method of its own) and
    those that only learn from a teacher (`distill`, a stage of teacher-student)."""
    return [name for name, info in algorithms().items()
            if name != "supervised" and not info.needs_targets]


def _chain(name: str, classes: dict[str, _Class]) -> list[_Class]:
    """`name`'s class and its bases inside the package, most derived first (single
    inheritance, as the algorithms use)."""
    chain = []
    while name in classes:
        chain.append(classes[name])
        name = next((b for b in classes[name].bases if b in classes), "")
    return chain


def _info(chain: list[_Class]) -> AlgorithmInfo:
    """The declarations of the most derived class, its bases filling in the rest."""
    attributes: dict[str, Any] = {}
    params: dict[str, Param] = {}
    docs: dict[str, str] = {}
    for cls in chain:
        for key, value in cls.attributes.items():
            attributes.setdefault(key, value)
        for param in cls.params:
            params.setdefault(param.name, param)
        for key, value in param_docs(cls.docstring).items():
            docs.setdefault(key, value)
    ordered = _config_order(chain, params)
    return AlgorithmInfo(name=attributes["registry_name"], summary=attributes.get("summary", ""),
                         needs_targets=bool(attributes.get("needs_targets", False)),
                         params=tuple(ordered), docs=docs)


def _config_order(chain: list[_Class], params: dict[str, Param]) -> list[Param]:
    """Hyperparameters in `get_config`'s order: the base's first, then each subclass's."""
    seen: list[str] = []
    for cls in reversed(chain):
        seen += [p.name for p in cls.params if p.name not in seen]
    return [params[name] for name in seen]


def _classes(tree: ast.Module) -> list[_Class]:
    out = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        attributes = {}
        params: list[Param] = []
        for item in node.body:
            if isinstance(item, ast.Assign | ast.AnnAssign):
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                value = _constant(item.value) if item.value is not None else None
                for target in targets:
                    if isinstance(target, ast.Name) and value is not _UNKNOWN:
                        attributes[target.id] = value
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                params = _init_params(item.args)
        out.append(_Class(
            name=node.name, bases=[ast.unparse(b).split(".")[-1] for b in node.bases],
            registered=any(ast.unparse(d).split(".")[-1] == "register"
                           for d in node.decorator_list),
            attributes=attributes, params=params, docstring=ast.get_docstring(node) or ""))
    return out


def _init_params(args: ast.arguments) -> list[Param]:
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = [*zip(positional, defaults, strict=True),
             *zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    return [Param(arg.arg, _constant(default) if default is not None else None,
                  ast.unparse(arg.annotation) if arg.annotation is not None else "")
            for arg, default in pairs if arg.arg not in _LAYER_ARGUMENTS]


_UNKNOWN = object()
_ARITHMETIC = (ast.Expression, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Tuple, ast.operator,
               ast.unaryop, ast.Load)


def _constant(node: ast.AST):
    """The value of a constant expression (`0.95`, `1 / 3`, `(64, 64)`, `None`), evaluated
    without names or calls; `_UNKNOWN` for anything else."""
    expression = ast.Expression(node)
    if not all(isinstance(n, _ARITHMETIC) for n in ast.walk(expression)):
        return _UNKNOWN
    return eval(compile(expression, "<catalog>", "eval"), {"__builtins__": {}})


def param_docs(docstring: str) -> dict[str, str]:
    """The `Args:` entries of a Keras-style docstring, as `{name: one-line text}`."""
    docs: dict[str, str] = {}
    if "Args:" not in docstring:
        return docs
    name = None
    for line in docstring.split("Args:", 1)[1].splitlines()[1:]:
        if line and not line.startswith(" "):
            break  # the next section (Returns:, Example:, ...)
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            name = match.group(1)
            docs[name] = match.group(2).strip()
        elif name and line.startswith("        "):
            docs[name] += " " + line.strip()
    return docs
