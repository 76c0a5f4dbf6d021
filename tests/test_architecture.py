"""The helper package sits below the curriculum: no module of molpractice/ imports solutions/ or
exercises/, and the package's internal imports (module level and inside functions) form no cycle."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "molpractice"


def _imports(path: Path) -> set[str]:
    """Top-level names imported by a module: other molpractice modules as 'molpractice.x', others as is."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from .x import y
                if node.module:
                    out.add(f"molpractice.{node.module.split('.')[0]}")
                else:
                    out |= {f"molpractice.{alias.name}" for alias in node.names}
            elif node.module:
                out.add(node.module)
    return out


def _graph():
    modules = {p.stem: p for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    return {name: {i.split(".")[1] for i in _imports(path) if i.startswith("molpractice.") and i.split(".")[1] in modules}
            for name, path in modules.items()}, modules


def test_helper_package_never_imports_the_curriculum():
    _, modules = _graph()
    for name, path in modules.items():
        bad = {i for i in _imports(path) if i.split(".")[0] in ("solutions", "exercises")}
        assert not bad, f"molpractice/{name}.py imports {sorted(bad)}: helpers receive the chapter module instead"
        assert "solutions." not in path.read_text().replace('f"solutions.{', ""), \
            f"molpractice/{name}.py names a solutions module directly"


def test_no_import_cycles():
    graph, _ = _graph()
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
