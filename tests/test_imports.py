"""The package's import graph: the core never imports a paper module, and no module imports itself through a
chain of others (lazy imports inside functions count too — they hide a cycle, they do not remove it)."""

import ast
from pathlib import Path

import featurelab

PKG = Path(featurelab.__file__).parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("featurelab")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("featurelab"):
                out.add(mod)
                for a in node.names:  # `from featurelab import data` imports the submodule featurelab.data
                    if (PKG.parent / (mod + "." + a.name).replace(".", "/")).with_suffix(".py").is_file():
                        out.add(f"{mod}.{a.name}")
    return out


GRAPH = {_module_name(p): _imports(p) for p in PKG.rglob("*.py")}


def test_core_never_imports_papers():
    for mod, deps in GRAPH.items():
        if not mod.startswith("featurelab.papers"):
            bad = [d for d in deps if d.startswith("featurelab.papers")]
            assert not bad, f"core module {mod} imports paper module(s) {bad}"


def test_no_import_cycle():
    graph = {m: {d for d in deps if d in GRAPH and d != "featurelab"} for m, deps in GRAPH.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in graph[m]:
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
