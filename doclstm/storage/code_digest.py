"""What code a stage's output depends on: a module and every doclstm module it imports.

`module_sources("doclstm.tasks.train")` follows the import statements of the module's
source (those inside functions too, since the stages import heavy libraries lazily),
transitively, through every module of the `doclstm` package, with the packages whose
`__init__` runs on the way; the modules of other distributions are left to their
versions. `code_digest` hashes those modules' syntax trees without docstrings, so a
change to what the code does changes the digest, and a reworded docstring, a comment or
a reformatted line does not. It reads source files and imports nothing, so a stage pays
a few milliseconds a module, once a process (the answers are cached, and computed under
a lock: CPython 3.11's parser fails when two threads parse at once, and the score
flow's shard tasks ask from threads). A parse can still meet one that another library
runs in another thread; before 3.11.8 the parser then raises a spurious SystemError
("AST constructor recursion depth mismatch", CPython gh-106905), and the parse is tried
again.

A stage fingerprint holds the digest of its stage module: editing `bag_fit.py` reruns
train and what follows it, while editing the command line's help, the README or a
benchmark reruns nothing. dvc.yaml lists the same files as each stage's deps (a test
compares them), so `dvc repro` agrees.
"""

from __future__ import annotations

import ast
import hashlib
import threading
from functools import cache
from pathlib import Path

PACKAGE = "doclstm"
ROOT = Path(__file__).resolve().parents[1]  # the folder of the doclstm package
_PARSING = threading.Lock()


def module_sources(module: str) -> dict[str, Path]:
    """Module name -> source file, for `module` and every doclstm module it imports."""
    return _sources((module,))


def code_digest(*modules: str) -> str:
    """The sha256 of the docstring-free syntax of `modules` and what they import."""
    with _PARSING:
        return _digest(modules)


def relative_sources(*modules: str) -> list[str]:
    """The source files of `modules`' closure, relative to the folder above the package
    (what dvc.yaml lists as a stage's code deps), sorted."""
    found = _sources(modules)
    return sorted(path.relative_to(ROOT.parent).as_posix() for path in found.values())


def clear_cache() -> None:
    """Forget every answer (for a process that edits the package's files)."""
    _closure.cache_clear()
    _digest.cache_clear()
    _analysed.cache_clear()


def _sources(modules: tuple[str, ...]) -> dict[str, Path]:
    with _PARSING:
        return _collected(modules)


def _collected(modules: tuple[str, ...]) -> dict[str, Path]:
    """The closures of `modules` together (the caller holds the lock)."""
    found: dict[str, Path] = {}
    for module in modules:
        found.update(_closure(module))
    return found


@cache
def _digest(modules: tuple[str, ...]) -> str:
    found = _collected(modules)
    digest = hashlib.sha256()
    for name in sorted(found):
        digest.update(f"{name}\0{_normalized(found[name])}\0".encode())
    return digest.hexdigest()


@cache
def _closure(module: str) -> tuple[tuple[str, Path], ...]:
    found: dict[str, Path] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        path = _source(name)
        if path is None:
            raise ValueError(f"{name}: no such module in {ROOT}")
        found[name] = path
        pending.extend(_parents(name))
        pending.extend(_imported(name, path))
    return tuple(sorted(found.items()))


def _source(module: str) -> Path | None:
    """The file of a doclstm module, or None when `module` names no module of it."""
    head, *rest = module.split(".")
    if head != PACKAGE:
        return None
    base = ROOT.joinpath(*rest)
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _parents(module: str) -> list[str]:
    """The packages imported before `module`: doclstm, doclstm.models, ..."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported(module: str, path: Path) -> list[str]:
    """The doclstm modules the source of `module` imports, anywhere in it."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for level, base, aliases in _analysed(path)[0]:
        if level:
            anchor = package.split(".")[: len(package.split(".")) - level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        names.append(base)
        # `from doclstm.models import bag` imports the module doclstm.models.bag
        names.extend(f"{base}.{alias}" for alias in aliases)
    return [name for name in names if _source(name) is not None]


def _normalized(path: Path) -> str:
    """The module's syntax tree without docstrings or positions, as text."""
    return _analysed(path)[1]


Imports = tuple[tuple[int, str, tuple[str, ...]], ...]  # (level, module, names) each


PARSE_TRIES = 5


def _parse(source: str) -> ast.Module:
    """`ast.parse`, tried again when another thread's parse broke its state (gh-106905)."""
    for attempt in range(PARSE_TRIES):
        try:
            return ast.parse(source)
        except SystemError:
            if attempt == PARSE_TRIES - 1:
                raise
    raise AssertionError("unreachable")


@cache
def _analysed(path: Path) -> tuple[Imports, str]:
    """What one parse of a module gives: its import statements, and its syntax tree
    without docstrings or positions as text."""
    tree = _parse(path.read_text(encoding="utf-8"))
    imports: list[tuple[int, str, tuple[str, ...]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.extend((0, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            aliases = tuple(alias.name for alias in node.names)
            imports.append((node.level, node.module or "", aliases))
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tuple(imports), ast.dump(tree, annotate_fields=False, include_attributes=False)
