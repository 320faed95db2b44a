"""The import graph flows one way (docs/architecture.md): a module imports only from its own
layer or the layers below it.

    domain -> engine, forms -> store -> activities -> workflows -> clients
           -> api, web, demo, worker, sim -> bench, starter

Every import counts, ``TYPE_CHECKING`` ones and imports inside functions too: a lazy import
upward is still a dependency upward. Tests may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from engine.settings import REPO_ROOT

LAYERS: dict[str, int] = {
    "domain": 0,
    "engine": 1,
    "forms": 1,
    "store": 2,
    "activities": 3,
    "workflows": 4,
    "clients": 5,
    "api": 6,
    "web": 6,
    "demo": 6,
    "worker": 6,
    "sim": 6,
    "bench": 7,
    "starter": 7,
}


def top_of(path: Path) -> str:
    """The top-level package (or module) a source file belongs to."""
    parts = path.relative_to(REPO_ROOT).parts
    return parts[0].removesuffix(".py")


def imported_tops(source: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def upward_imports(source: str, own: str, where: str = "<snippet>") -> list[str]:
    """``where:line module`` for each import of a layer above ``own``'s."""
    level = LAYERS[own]
    return [
        f"{where}:{line} imports {module} ({module.split('.')[0]} is above {own})"
        for line, module in imported_tops(source)
        if LAYERS.get(module.split(".")[0], -1) > level
    ]


def sources() -> list[Path]:
    files = [
        path
        for top in LAYERS
        for path in (
            sorted((REPO_ROOT / top).rglob("*.py"))
            if (REPO_ROOT / top).is_dir()
            else [REPO_ROOT / f"{top}.py"]
        )
    ]
    return [path for path in files if path.exists()]


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_no_module_imports_from_a_layer_above_its_own(path: Path) -> None:
    where = str(path.relative_to(REPO_ROOT))
    assert upward_imports(path.read_text(encoding="utf-8"), top_of(path), where) == []


def test_the_data_keys_need_no_settings() -> None:
    # engine.crypto is pure (keys, AES-GCM, blind indexes); the process's ring, which reads the
    # settings, is engine.keys: no circle between crypto and settings.
    source = (REPO_ROOT / "engine" / "crypto.py").read_text(encoding="utf-8")
    assert [m for _, m in imported_tops(source) if m.startswith("engine")] == []


def test_the_check_catches_an_upward_import_even_a_lazy_one() -> None:
    snippet = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from workflows.dossier import DossierWorkflow\n"
        "def f():\n    import api.app\n"
        "from domain.clock import VN_TZ\n"
    )
    found = upward_imports(snippet, "store")
    assert [entry.split(" ")[0] for entry in found] == ["<snippet>:3", "<snippet>:5"]


TESTS = REPO_ROOT / "tests"


def test_the_tests_mirror_the_source() -> None:
    # tests/<package>/ holds the tests of <package>/ (tests/deploy: the deployment files'); only
    # this check, which reads the whole tree, stays at the top with the shared helpers.
    folders = {path.parent.name for path in TESTS.glob("*/test_*.py")}
    assert folders - set(LAYERS) <= {"deploy"}
    assert [path.name for path in TESTS.glob("test_*.py")] == ["test_architecture.py"]


def test_the_domain_tests_import_only_the_domain() -> None:
    # `pytest tests/domain` runs without Temporal or PostgreSQL because nothing there can reach
    # them: no import of a layer above domain, nor of a helper outside tests/domain.
    first_party = set(LAYERS) | {"tests"}
    upward = [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
        for path in sorted((TESTS / "domain").glob("*.py"))
        for line, module in imported_tops(path.read_text(encoding="utf-8"))
        if module.split(".")[0] in first_party
        and module.split(".")[0] != "domain"
        and not module.startswith("tests.domain")
    ]
    assert upward == []
