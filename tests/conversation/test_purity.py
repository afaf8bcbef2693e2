"""The pure core imports no store, channel, job, admin, web or vendor SDK (the service shell is listed apart)."""

import ast
from pathlib import Path

import coachbox

PACKAGES = ("conversation", "learning")
# The impure shell of the conversation package: it applies the engine's decisions to SQLite and diskcache.
SHELL = {"conversation/service.py", "conversation/chat.py", "conversation/sessions.py", "conversation/ratelimit.py",
         "conversation/batch.py"}
FORBIDDEN = ("coachbox.store", "coachbox.channels", "coachbox.jobs", "coachbox.admin", "coachbox.web", "coachbox.core.services",
             "twilio", "openai", "stripe", "sanic", "diskcache", "huey", "sqlite3", "httpx", "aiosqlite", "os",
             "coachbox.core.config", "coachbox.core.clock")


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_it_keeps_the_engine_and_learning_rules_pure():
    root = Path(coachbox.__file__).parent
    offenders = []
    checked = 0
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative in SHELL:
                continue
            checked += 1
            for name in _imports(path):
                if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN):
                    offenders.append(f"{relative} imports {name}")
    assert checked >= 15
    assert offenders == []


def test_it_reads_no_clock_in_the_core():
    root = Path(coachbox.__file__).parent
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            if path.relative_to(root).as_posix() in SHELL:
                continue
            text = path.read_text(encoding="utf-8")
            assert ".now(" not in text and "time.time(" not in text and "utcnow" not in text, path
