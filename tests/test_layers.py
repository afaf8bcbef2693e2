"""The house is layered: every import of a coachbox module points down the layer order, and none forms a cycle.

Each folder of the package is a layer (docs/architecture.md draws them). Reading every module with `ast` (imports
at module level and inside functions alike), this test fails on any import cycle and on any import that goes
from a lower layer up to a higher one, naming both modules and the line. Folders of the same layer may import
each other as long as no cycle forms.

One rule, the same for every module: imports under `if TYPE_CHECKING:` are annotations only. They never run,
so they create neither an import-time cycle nor a run-time dependency; mypy still checks them. (import-linter
offers the same choice as `exclude_type_checking_imports`.) That is what lets the typed `Services` live at the
bottom and still name the feature resources it carries.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "coachbox"

# Top to bottom. A module may import modules of its own layer (without a cycle) and of any layer below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("commands", ("coachbox.__main__", "coachbox.cli")),
    ("composition roots", ("coachbox.roots",)),
    ("edges", ("coachbox.web", "coachbox.admin", "coachbox.jobs", "coachbox.schedule")),
    ("turn runner", ("coachbox.turns",)),
    ("features", ("coachbox.channels", "coachbox.tutor", "coachbox.certificates", "coachbox.payments", "coachbox.ops")),
    ("conversation engine (pure)", ("coachbox.conversation",)),
    ("content and store", ("coachbox.content", "coachbox.store")),
    ("learning domain (pure)", ("coachbox.learning",)),
    ("core", ("coachbox.core", "coachbox")),  # `coachbox` itself: the package's __init__ (its version)
]

# The pure layers do no I/O and read no setting or clock: no SQLite, cache, network, process, file system or vendor
# SDK, and no Settings, Clock or Services (time and rules come in as arguments), so they run the same in a test,
# the simulator and a webhook. (This was tests/conversation/test_purity.py; the rule is unchanged.)
PURE = ("coachbox.conversation", "coachbox.learning")
IO_MODULES = {
    "sqlite3",
    "sqlite_utils",
    "aiosqlite",
    "diskcache",
    "huey",
    "twilio",
    "openai",
    "stripe",
    "httpx",
    "sanic",
    "fpdf",
    "requests",
    "socket",
    "subprocess",
    "urllib.request",
    "asyncio",
    "os",
    "coachbox.core.config",
    "coachbox.core.clock",
    "coachbox.core.services",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    best, depth = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = index, prefix.count(".")
    assert best >= 0, f"{module} is in no layer: add its folder to LAYERS in tests/test_layers.py"
    return best


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """Ids of import nodes under `if TYPE_CHECKING:` (annotations only)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        skipped.add(id(sub))
    return skipped


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported coachbox module, line) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_blocks(tree)
    found: list[tuple[str, int]] = []

    def nearest(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(nearest(a.name), node.lineno) for a in node.names if a.name.split(".")[0] == "coachbox"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "coachbox":
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.append((candidate if candidate in modules else nearest(target), node.lineno))
    return [(name, line) for name, line in found if name != module]


def graph() -> dict[str, list[tuple[str, int]]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(edges: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted({t for t, _ in edges[root]})))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted({t for t, _ in edges[child]}))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_it_has_no_import_cycle():
    edges = graph()
    problems = []
    for component in cycles(edges):
        members = set(component)
        links = [f"{a} imports {b} (line {line})" for a in component for b, line in edges[a] if b in members]
        problems.append("cycle: " + "; ".join(links))
    assert not problems, "\n".join(problems)


def test_it_has_no_upward_import():
    edges = graph()
    upward = []
    for module, targets in sorted(edges.items()):
        mine = layer_of(module)
        for target, line in targets:
            theirs = layer_of(target)
            if theirs < mine:
                upward.append(f"{module} (line {line}, {LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_it_keeps_the_pure_layers_free_of_io():
    impure = []
    for name, path in all_modules().items():
        if not name.startswith(PURE):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for imported in names:
                if imported in IO_MODULES or imported.split(".")[0] in IO_MODULES:
                    impure.append(f"{name} (line {node.lineno}) imports {imported}")
    assert not impure, "the pure layers do I/O:\n" + "\n".join(impure)


def test_it_knows_the_layer_of_every_module():
    unknown = [
        name
        for name in all_modules()
        if not any(name == p or name.startswith(p + ".") for _, prefixes in LAYERS for p in prefixes)
    ]
    assert not unknown, unknown


def test_it_finds_cycles_and_upward_imports_when_they_exist(tmp_path):
    """The checks can fail: a made-up graph with a cycle is caught."""
    edges = {"a": [("b", 1)], "b": [("c", 2)], "c": [("a", 3)], "d": [("a", 4)]}
    assert cycles(edges) == [["a", "b", "c"]]
    assert layer_of("coachbox.core.config") > layer_of("coachbox.store.messages") > layer_of("coachbox.web.webhooks")


LAZY_MARK = "# lazy:"


def lazy_imports_without_reason() -> list[str]:
    """Imports inside a function that do not say, in a `# lazy:` comment, what loading them later saves."""
    missing = []
    for name, path in sorted(all_modules().items()):
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source, str(path))
        skipped = _type_checking_blocks(tree)
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in skipped:
                    continue
                # The comment sits on the import's line or above the run of imports it belongs to.
                line = node.lineno - 1
                while line > 0 and lines[line - 1].strip().startswith(("from ", "import ")):
                    line -= 1
                above = lines[line - 1] if line > 0 else ""
                if LAZY_MARK not in lines[node.lineno - 1] and LAZY_MARK not in above:
                    missing.append(f"{name} (line {node.lineno}): {ast.unparse(node)}")
    return sorted(set(missing))


def test_imports_inside_functions_say_why():
    """An import inside a function is for a heavy library (fpdf2, openai, the twilio client, Sanic in the supervisor)
    that a process may never need, and says so with a `# lazy: <what it saves>` comment. Never to dodge a cycle:
    the cycle test above counts these imports too."""
    missing = lazy_imports_without_reason()
    assert not missing, "move these imports to the top of the module, or say why they wait:\n" + "\n".join(missing)
