"""The package layout holds: each subpackage of doclstm/ imports only the packages its
`__init__` docstring names, only the command-line edge imports the stages (tasks/) and
the flows (flows/), and a module past 300 lines says why in its docstring."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "doclstm"
# What each subpackage may import besides itself, `errors` and `__version__`.
ALLOWED = {
    "storage": set(),
    "pipeline": {"storage"},
    "sources": {"storage", "pipeline"},
    "text": {"storage", "pipeline"},
    "evaluation": {"storage"},
    "models": {"storage", "pipeline", "text"},
    "training": {"storage", "pipeline", "text", "models", "evaluation"},
    "scoring": {"storage", "pipeline", "sources", "text", "models", "evaluation"},
    "registry": {"storage", "pipeline", "sources", "text"},
    "cli": {
        "storage", "pipeline", "sources", "text", "evaluation", "models", "training",
        "scoring", "registry", "tasks", "flows",
    },
}  # fmt: skip
LONG = 330  # lines: "about 300"
STAGE_REFERENCE = re.compile(r"^(tasks|flows)(\.\w+)+(:\w+)?$")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _package(module: Path) -> str | None:
    parts = module.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def _imports(module: Path) -> set[str]:
    """Top-level names of what `module` imports or names as a module path in a string
    (`importlib.import_module("tasks.train")`, `"tasks.train:train_model"`)."""
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
    """The doclstm subpackages, and tasks/ or flows/, that `module` imports."""
    packages = set()
    for name in _imports(module):
        head, *rest = name.split(".")
        if head in ("tasks", "flows"):
            packages.add(head)
        elif head == "doclstm" and rest and rest[0] in ALLOWED:
            packages.add(rest[0])
    return packages


def test_every_subpackage_has_a_rule_and_a_docstring_naming_what_it_may_import() -> None:
    found = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert found == set(ALLOWED)
    for name, allowed in ALLOWED.items():
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and len(doc) > 100, f"doclstm/{name}/__init__.py says what it owns"
        named = set(re.findall(r"`(\w+)`", doc)) | set(re.findall(r"\b(tasks|flows)/", doc))
        # The edge may import everything; what its docstring must name is the stages and flows.
        missing = (allowed if name != "cli" else {"tasks", "flows"}) - named
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


def test_only_the_command_line_edge_imports_the_stages_or_the_flows() -> None:
    edge = [m for m in _modules() if {"tasks", "flows"} & _package_imports(m)]
    assert edge and all(_package(m) == "cli" for m in edge), edge


def test_a_long_module_says_why_it_is_long() -> None:
    roots = [PACKAGE, ROOT / "tasks", ROOT / "flows"]
    unexplained = []
    for module in sorted(p for root in roots for p in root.rglob("*.py")):
        lines = len(module.read_text(encoding="utf-8").splitlines())
        doc = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8"))) or ""
        if lines > LONG and "Why one module:" not in doc:
            unexplained.append(f"{module.relative_to(ROOT)} ({lines} lines)")
    assert not unexplained, unexplained
