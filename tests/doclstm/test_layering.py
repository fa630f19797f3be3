"""The package layout holds: each subpackage of doclstm/ imports only the packages its
`__init__` docstring names; the library never imports the stages (`tasks`), the flows
(`flows`) or the command line (`cli`) built on it; nothing imports the old top-level
`tasks`/`flows` names; the flows import each other without a circle; and a module past
300 lines says why in its docstring."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "doclstm"
# What each subpackage may import besides itself, `errors` and `__version__`.
LIBRARY = {
    "storage": set(),
    "config": {"storage"},
    "console": set(),
    "sources": {"storage", "config"},
    "text": {"storage", "config"},
    "evaluation": {"storage"},
    "models": {"storage", "config", "text"},
    "training": {"storage", "config", "console", "text", "models", "evaluation"},
    "scoring": {"storage", "config", "console", "sources", "text", "models", "evaluation"},
    "registry": {"storage", "config", "sources", "text"},
}
ALLOWED = {
    **LIBRARY,
    "tasks": set(LIBRARY),
    "tuning": {*LIBRARY, "tasks"},  # trials run the train stage
    "flows": {*LIBRARY, "tasks", "tuning"},
    "cli": {*LIBRARY, "tasks", "tuning", "flows"},
}
LONG = 330  # lines: "about 300"
STAGE_REFERENCE = re.compile(r"^(doclstm\.)?(tasks|flows)(\.\w+)+(:\w+)?$")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _package(module: Path) -> str | None:
    parts = module.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def _imports(module: Path) -> set[str]:
    """What `module` imports, or names as a module path in a string
    (`importlib.import_module("doclstm.tasks.train")`, `"tasks.train:train_model"`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and STAGE_REFERENCE.match(node.value)
        ):
            found.add(node.value.partition(":")[0])
    return found


def _package_imports(module: Path) -> set[str]:
    """The doclstm subpackages that `module` imports."""
    packages = set()
    for name in _imports(module):
        head, *rest = name.split(".")
        if head == "doclstm" and rest and rest[0] in ALLOWED:
            packages.add(rest[0])
    return packages


def test_every_subpackage_has_a_rule_and_a_docstring_naming_what_it_may_import() -> None:
    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert found == set(ALLOWED)
    for name, allowed in ALLOWED.items():
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and len(doc) > 100, f"doclstm/{name}/__init__.py says what it owns"
        named = set(re.findall(r"`(\w+)`", doc))
        # The layers built on the library may use all of it; what their docstrings must
        # name is which of the stages and flows they run.
        missing = (allowed if name in LIBRARY else allowed - set(LIBRARY)) - named
        assert not missing, f"doclstm/{name}'s docstring does not name {sorted(missing)}"


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_only_what_its_package_may(module: Path) -> None:
    package = _package(module)
    imported = _package_imports(module) - {package}
    if package is None:  # doclstm/__init__.py and doclstm/errors.py: the shared leaves
        assert not imported, f"{module.name} imports {sorted(imported)}"
        return
    forbidden = imported - ALLOWED[package]
    assert not forbidden, f"doclstm/{package} may not import {sorted(forbidden)}"


def test_the_library_never_imports_what_is_built_on_it() -> None:
    """The library imports neither the stages, nor the flows, nor the command line; only
    the command line imports the flows."""
    for module in _modules():
        package = _package(module)
        imported = _package_imports(module) - {package}
        if package in LIBRARY:
            assert not imported & {"tasks", "flows", "cli"}, module
    edge = [m for m in _modules() if "flows" in _package_imports(m) - {_package(m)}]
    assert edge and all(_package(m) == "cli" for m in edge), edge


def test_nothing_imports_the_old_top_level_names() -> None:
    """One import name: `tasks` and `flows` exist only as doclstm.tasks and doclstm.flows."""
    roots = [PACKAGE, ROOT / "tests", ROOT / "benchmarks"]
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for root in roots
        for path in sorted(root.rglob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] in ("tasks", "flows")
    ]
    assert not found, found


def test_the_flows_import_each_other_without_a_circle() -> None:
    flows = {p.stem: p for p in (PACKAGE / "flows").glob("*.py") if p.stem != "__init__"}
    graph = {
        name: {
            imported.split(".")[2]
            for imported in _imports(path)
            if imported.startswith("doclstm.flows.") and imported.split(".")[2] in flows
        }
        for name, path in flows.items()
    }
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in visiting, f"import circle: {' -> '.join((*trail, name))}"
        if name in done:
            return
        visiting.add(name)
        for other in graph[name]:
            visit(other, (*trail, name))
        visiting.discard(name)
        done.add(name)

    for name in graph:
        visit(name, ())


def test_a_long_module_says_why_it_is_long() -> None:
    unexplained = []
    for module in _modules():
        lines = len(module.read_text(encoding="utf-8").splitlines())
        doc = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8"))) or ""
        if lines > LONG and "Why one module:" not in doc:
            unexplained.append(f"{module.relative_to(ROOT)} ({lines} lines)")
    assert not unexplained, unexplained
