"""The layering: pure packages import without gevent, no import cycles, imports point down."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "grtmp"

#: Packages and modules that must import (and work) without gevent.
PURE = ["grtmp.formats", "grtmp.amf", "grtmp.wire", "grtmp.media", "grtmp.protocol",
        "grtmp.live", "grtmp.config", "grtmp.errors", "grtmp.logs", "grtmp.hooks", "grtmp.names",
        "grtmp.cluster.entry", "grtmp.cluster.policy", "grtmp.stats"]
#: Layers, lowest first: a module may import its own layer and the ones below, never above.
LAYERS = [
    {"grtmp.errors", "grtmp.logs", "grtmp.formats", "grtmp.names", "grtmp.stats"},
    {"grtmp.amf", "grtmp.wire", "grtmp.config"},
    {"grtmp.media"},
    {"grtmp.protocol", "grtmp.live", "grtmp.hooks"},
    {"grtmp.net", "grtmp.auth", "grtmp.cluster", "grtmp.hls", "grtmp.web", "grtmp.ops"},
    {"grtmp.cli", "grtmp"},
]
#: Deliberate function-level imports upward, each with its reason.
ALLOWED_UP = {
    # The seed API's Stream.audio_channel()/video_channel() return gevent-queue iterators.
    ("grtmp.live.stream", "grtmp.net.consume"),
}


def modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(path: pathlib.Path, *, module_level_only: bool) -> set[str]:
    """grtmp modules imported by ``path`` (``if TYPE_CHECKING`` blocks excluded)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            is_def = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import) and (top or not module_level_only):
                found.update(a.name for a in child.names if a.name.startswith("grtmp"))
            elif isinstance(child, ast.ImportFrom) and (top or not module_level_only):
                if child.module and child.module.startswith("grtmp") and child.level == 0:
                    found.add(child.module)
                    found.update(f"{child.module}.{a.name}" for a in child.names)
            visit(child, top and not is_def)

    visit(tree, True)
    return found


def resolve(name: str, known: dict[str, pathlib.Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def layer_of(name: str) -> int:
    for i, layer in enumerate(LAYERS):
        for prefix in sorted(layer, key=len, reverse=True):
            if name == prefix or name.startswith(prefix + "."):
                return i
    raise AssertionError(f"{name} is in no layer: add it to LAYERS")


def test_pure_layers_import_without_gevent() -> None:
    mods = sorted(m for m in modules() if any(m == p or m.startswith(p + ".") for p in PURE))
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'gevent' or name.startswith('gevent.'):\n"
        "            raise ImportError('gevent is not importable in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {mods!r}:\n"
        "    __import__(m)\n"
        "assert not any(k.startswith('gevent') for k in sys.modules)\n"
        "print(len(" + repr(mods) + "))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    assert int(res.stdout.strip()) == len(mods) > 40


def test_no_import_cycles() -> None:
    known = modules()
    graph = {m: {r for i in imports(p, module_level_only=True)
                 if (r := resolve(i, known)) and r != m and not m.startswith(r + ".")}
             for m, p in known.items()}
    # A package's __init__ re-exporting its submodules is not a cycle with them.
    for m in graph:
        graph[m] = {r for r in graph[m] if not (r.startswith(m + ".") and m in known and
                                                known[m].name == "__init__.py")}
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in seen:
                dfs(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            dfs(node)
    assert cycles == []


def test_imports_point_down() -> None:
    known = modules()
    bad = []
    for m, path in known.items():
        for i in imports(path, module_level_only=False):
            r = resolve(i, known)
            if r is None or r == m or m.startswith(r + "."):
                continue
            if known[m].name == "__init__.py" and r.startswith(m + "."):
                continue
            if layer_of(r) > layer_of(m) and (m, r) not in ALLOWED_UP:
                bad.append(f"{m} -> {r}")
    assert bad == []


def test_no_module_over_about_600_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 650}
    assert long == {}
