"""Workflow code asks nothing of the outside world: no clock, randomness, environment or files.

The workers pass the dossier shell (``workflows``) and the pure ``domain`` package through the
workflow sandbox (`worker.PASSTHROUGH_MODULES`: a quarter of a replay's CPU, bench/sandbox.py),
so the sandbox no longer stops such a call in them at run time. This test stops it at review
time instead, by reading their source; the replay tests still run every committed history under
the full sandbox. ``workflow.now()``, ``workflow.uuid4()`` and ``workflow.random()`` are the
deterministic ways, and the names below are what they replace.

The only file access in ``domain`` is the catalog's and the calendar's loaders, which the
starter, the workers and the API call outside any workflow; they are listed by function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from engine.settings import REPO_ROOT
from worker import PASSTHROUGH_MODULES

# Attribute calls (on anything but the `workflow` module, whose now/uuid4/random are the
# deterministic ones) and bare names that reach outside a workflow; the time module's clocks
# cannot be reached since importing it is refused (asyncio.sleep is a durable timer in a workflow).
FORBIDDEN_ATTRIBUTES = {
    "now", "today", "utcnow", "fromtimestamp", "uuid1", "uuid4", "urandom", "getenv", "environ",
    "random", "randint", "choice", "shuffle", "read_text", "read_bytes", "write_text",
    "write_bytes", "open", "fdopen", "mkstemp",
}  # fmt: skip
FORBIDDEN_NAMES = {"open", "input", "print"}
FORBIDDEN_IMPORTS = {"random", "secrets", "time", "socket", "subprocess", "requests", "httpx"}
# (module path, function) that load or write the rule files, never called from a workflow.
LOADERS = {
    ("domain/calendar.py", "_read_yaml"),
    ("domain/calendar.py", "_replace_checked"),
    ("domain/catalog.py", "_read_yaml"),
    # `starter.py catalog check`: reads every rule file, dated today unless told otherwise.
    ("domain/catalog_check.py", "unverified_marks"),
    ("domain/catalog_check.py", "check_catalog"),
}


def outside_calls(source: str, path: str = "<snippet>") -> list[str]:
    """``path:line what`` for every call or import in ``source`` that reaches outside."""
    tree = ast.parse(source)
    found: list[str] = []
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (path, node.name) in LOADERS:
            exempt.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in exempt:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            found += [f"{path}:{node.lineno} import {n}" for n in names
                      if n and n.split(".")[0] in FORBIDDEN_IMPORTS]  # fmt: skip
        elif isinstance(node, ast.Call):
            func = node.func
            on_workflow = isinstance(func, ast.Attribute) and (
                isinstance(func.value, ast.Name) and func.value.id == "workflow"
            )
            if (
                isinstance(func, ast.Attribute)
                and func.attr in FORBIDDEN_ATTRIBUTES
                and not on_workflow
            ):
                found.append(f"{path}:{node.lineno} .{func.attr}()")
            elif isinstance(func, ast.Name) and func.id in FORBIDDEN_NAMES:
                found.append(f"{path}:{node.lineno} {func.id}()")
        elif isinstance(node, ast.Attribute) and node.attr == "environ":
            found.append(f"{path}:{node.lineno} .environ")
    return found


def passed_through_sources() -> list[Path]:
    """Every module of the packages the workers pass through the sandbox."""
    return sorted(p for package in PASSTHROUGH_MODULES for p in (REPO_ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    "path", passed_through_sources(), ids=lambda p: str(p.relative_to(REPO_ROOT))
)
def test_passed_through_code_reaches_nothing_outside(path: Path) -> None:
    relative = str(path.relative_to(REPO_ROOT))
    assert outside_calls(path.read_text(encoding="utf-8"), relative) == []


def test_the_check_catches_a_clock_a_die_the_environment_and_a_file() -> None:
    snippet = (
        "import random\n"
        "from datetime import datetime\n"
        "import os\n"
        "def decide(state):\n"
        "    moment = datetime.now()\n"
        "    key = os.environ['KEY']\n"
        "    with open('/tmp/x') as f:\n"
        "        return random.choice([moment, key, f])\n"
    )
    assert outside_calls(snippet) == [
        "<snippet>:1 import random",
        "<snippet>:5 .now()",
        "<snippet>:6 .environ",
        "<snippet>:7 open()",
        "<snippet>:8 .choice()",
    ]
