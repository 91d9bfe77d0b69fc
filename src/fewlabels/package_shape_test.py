"""The package's shape: a public API at the top, layers without cycles, and modules and
functions a reader can hold in mind."""

import ast
import warnings
from pathlib import Path

import fewlabels

PACKAGE = Path(fewlabels.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Every module's fewlabels imports, at module level or inside functions."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if not p.name.endswith(
        "_test.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("fewlabels"):
                    for alias in node.names:
                        sub = f"{node.module}.{alias.name}"
                        targets.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("fewlabels")}
        # A package's __init__ re-exporting its own modules is not a cycle of logic.
        graph[name] = {t for t in targets if t in modules and t != name
                       and not t.startswith(name + ".")}
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph = _import_graph()
    cycles = []

    def visit(node, path, on_path):
        for nxt in graph[node]:
            if nxt in on_path:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in done:
                on_path.add(nxt)
                visit(nxt, [*path, nxt], on_path)
                on_path.discard(nxt)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], {start})
    # A package's modules may import the package's own __init__ (fewlabels: errors, version).
    cycles = [c for c in cycles if not any(m == "fewlabels" for m in c)]
    assert cycles == [], f"import cycles: {cycles[:3]}"


def test_the_public_api_is_importable_from_the_top_and_all_is_true():
    from fewlabels import (  # noqa: F401
        ConsistencyTraining,
        SelfTraining,
        load_estimator,
        load_images,
        load_table,
        methods,
    )

    for name in fewlabels.__all__:
        assert getattr(fewlabels, name) is not None, name
    assert "fixmatch" in fewlabels.methods()


def test_importing_fewlabels_changes_no_global_state(tmp_path):
    import subprocess
    import sys

    code = ("import logging, os; before = dict(os.environ); import fewlabels; "
            "assert dict(os.environ) == before; "
            "assert logging.getLogger('tensorflow').filters == []")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


LAYERS = [
    ("errors", "files", "params", "metrics", "report", "targets", "validation", "model_files",
     "calibration", "progress", "catalog", "replicas", "acquisition", "novelty"),
    ("data",),
    ("views", "models"),
    ("algorithms", "stepwise"),
    ("ssl_data", "ssl_model"),
    ("training",),
    ("estimators",),
    ("workflow",),
    ("cli", "cli_options", "cli_scale", "cli_active", "testing", "__main__"),
]


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else "__init__"
    for i, names in enumerate(LAYERS):
        if part in names:
            return i
    return len(LAYERS)  # the package's own __init__: the public API, above everything


def test_each_layer_imports_only_the_layers_below_it():
    # Every module may read the package root's `__version__`.
    upward = [(module, target) for module, targets in _import_graph().items()
              for target in targets if target != "fewlabels" and _layer(target) > _layer(module)]
    assert upward == [], f"lower layers importing upper ones: {upward}"


def test_no_function_is_over_80_lines_and_a_long_module_is_a_warning():
    long = []
    for path in PACKAGE.rglob("*.py"):
        if path.name.endswith("_test.py"):
            continue
        text = path.read_text()
        if len(text.splitlines()) > 450:  # a hint to look for two concerns, not a rule
            warnings.warn(f"{path.name}: {len(text.splitlines())} lines", stacklevel=1)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1
                if size > 80:
                    long.append(f"{path.name}:{node.lineno} {node.name}: {size} lines")
    assert long == [], long


MAX_POSITIONAL = 6
"""More positional parameters than this and a call site reads as a row of values: pass one
object, or make the rest keyword-only."""


def test_no_function_takes_more_than_six_positional_parameters():
    crowded = []
    for path in PACKAGE.rglob("*.py"):
        if path.name.endswith("_test.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in node.args.posonlyargs + node.args.args]
                names = names[1:] if names[:1] in (["self"], ["cls"]) else names
                if len(names) > MAX_POSITIONAL:
                    crowded.append(f"{path.name}:{node.lineno} {node.name}: {len(names)}")
    assert crowded == [], crowded
