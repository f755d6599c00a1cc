"""The layout rules of docs/architecture.md, read from the source with `ast`.

Every import counts, including the ones inside functions (a lazy import is still a dependency):
packages only import packages on lower floors, no two modules import each other through any
chain, torch is imported only by the Torch subpackages, and the Transformer families share one
attention implementation.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "nlpt"

# Lowest floor first: a package may import its own floor's modules and anything on a lower floor.
FLOORS = [
    ["common"],
    ["corpus"],
    ["vocab", "tokenizer"],
    ["embeddings", "transformer"],
    ["models"],
    ["objectives"],
    ["engine"],
    ["finetune"],
    ["compare"],
    ["cli"],
]
TORCH_PACKAGES = {"models", "objectives", "engine", "finetune", "compare", "cli"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, relative ones resolved."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from nlpt.x import y` may name a submodule y: count it as an import of nlpt.x.y too.
            for alias in node.names:
                found.append((f"{target}.{alias.name}", node.lineno))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, list[tuple[str, int]]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, list[tuple[str, int]]] = {}
    for name, path in modules.items():
        edges[name] = [(target, line) for target, line in _imports(path)
                       if target in modules and target != name]
    return edges


def _floor(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for i, floor in enumerate(FLOORS):
        if parts[1] in floor:
            return i
    return None


def test_every_package_has_a_floor():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    placed = {name for floor in FLOORS for name in floor}
    assert packages <= placed, f"packages without a floor in FLOORS: {sorted(packages - placed)}"


def test_no_import_runs_upwards(graph):
    upward = []
    for module, targets in graph.items():
        here = _floor(module)
        for target, line in targets:
            there = _floor(target)
            if here is not None and there is not None and there > here:
                upward.append(f"{module}:{line} imports {target}")
    assert not upward, "imports that run upwards:\n" + "\n".join(sorted(set(upward)))


def test_no_import_circle(graph):
    """Tarjan's strongly connected components over every module import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target, _ in graph[node]:
            # A package's __init__ importing its own modules is not a circle through the package.
            if node.startswith(target + "."):
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_torch_only_in_torch_packages():
    outside = []
    for path in ROOT.rglob("*.py"):
        package = path.relative_to(ROOT).parts[0]
        if package in TORCH_PACKAGES:
            continue
        for target, line in _imports(path):
            if target == "torch" or target.startswith("torch."):
                outside.append(f"{_module_name(path)}:{line}")
    assert not outside, "torch imported outside the Torch subpackages: " + ", ".join(outside)


def test_one_attention_implementation():
    """Every family composes models/layers.py's attention; no other module calls SDPA itself."""
    callers = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "scaled_dot_product_attention":
                callers.append(_module_name(path))
    assert callers, "no module calls scaled_dot_product_attention: the check reads the wrong tree"
    assert set(callers) == {"nlpt.models.layers"}, f"attention written in: {sorted(set(callers))}"
