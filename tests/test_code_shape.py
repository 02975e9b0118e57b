"""The code's shape, checked mechanically: no import cycle between the project's modules (lazy imports
included), training's layers importing downwards only, argparse namespaces only in command-line entry
points, no module over 500 lines, no test module importing another, no skip on an ImportError."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ropar_core", "training", "blender_addon")
TRAINING_LAYERS = ("data", "evaluation", "train", "experiments")  # each may import only those before it
MAX_LINES = 500


def _modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules `name` imports anywhere in its file (top level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # a module importing its own package's __init__ is Python's import order, not a cycle
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def import_cycles(root: Path = ROOT) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    modules = _modules(root)
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    assert import_cycles() == []


def test_a_lazy_cycle_is_found(tmp_path):
    """The checker itself: two modules importing each other, one of them inside a function."""
    pkg = tmp_path / "ropar_core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from ropar_core import b\n")
    (pkg / "b.py").write_text("from ropar_core.a import f\n")
    assert import_cycles(tmp_path) == [["ropar_core.a", "ropar_core.b"]]


def upward_training_imports(root: Path = ROOT) -> list[str]:
    """Imports (lazy ones included) from a training layer into a layer above it."""
    modules = _modules(root)
    out = []
    for name, path in modules.items():
        parts = name.split(".")
        if len(parts) < 2 or parts[0] != "training" or parts[1] not in TRAINING_LAYERS:
            continue
        for target in sorted(_imports(name, path, modules)):
            t = target.split(".")
            if (len(t) > 1 and t[0] == "training" and t[1] in TRAINING_LAYERS
                    and TRAINING_LAYERS.index(t[1]) > TRAINING_LAYERS.index(parts[1])):
                out.append(f"{name} imports {target}")
    return out


def test_training_layers_import_downwards_only():
    assert upward_training_imports() == []


def test_an_upward_training_import_is_found(tmp_path):
    """The checker itself: a data module that imports the trainers inside a function."""
    for folder in ("training", "training/data", "training/train"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "training/train/config.py").write_text("BATCH = 64\n")
    lazy = "def f():\n    from training.train.config import BATCH\n"
    (tmp_path / "training/data/build.py").write_text(lazy)
    assert upward_training_imports(tmp_path) == ["training.data.build imports training.train.config"]


def test_only_entry_points_take_parsed_arguments():
    offenders = []
    for name, path in _modules().items():
        if not name.startswith("training"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "main":
                for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
                    annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                    if arg.arg == "args" or "Namespace" in annotation:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}({arg.arg})")
    assert offenders == []


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_tests_share_helpers_not_test_modules_and_never_skip_on_import_errors():
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.test_"):
                offenders.append(f"{path.name} imports {node.module}")
            if isinstance(node, ast.Attribute) and node.attr == "importorskip":
                offenders.append(f"{path.name} uses importorskip")
            if isinstance(node, ast.ExceptHandler) and "ImportError" in ast.unparse(node.type or ast.Pass()):
                if any(isinstance(n, ast.Call) and "skip" in ast.unparse(n.func) for n in ast.walk(node)):
                    offenders.append(f"{path.name}:{node.lineno} skips on ImportError")
    assert offenders == []
