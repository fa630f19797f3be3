"""The code digest of a stage covers the modules it imports and what their code does: a
changed body changes it, a docstring, a comment or the layout of a line does not."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.storage import code_digest as digest_module
from doclstm.storage.code_digest import code_digest, module_sources, relative_sources

PACKAGE = Path(digest_module.__file__).resolve().parents[1]


@pytest.fixture
def package_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the package whose files the digest reads instead of the checkout's."""
    copy = tmp_path / "doclstm"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(digest_module, "ROOT", copy)
    digest_module.clear_cache()
    yield copy
    digest_module.clear_cache()


def test_a_stage_covers_what_it_imports_lazily_and_its_packages_but_not_the_edge() -> None:
    train = module_sources("doclstm.tasks.train")
    assert {"doclstm", "doclstm.tasks", "doclstm.tasks.train", "doclstm.errors"} <= set(train)
    assert "doclstm.training.bag_fit" in train  # imported by a module train imports
    assert not [name for name in train if name.startswith(("doclstm.cli", "doclstm.flows"))]
    # `from doclstm.models import model` names a module, not an attribute.
    assert "doclstm.models.window_encoder" in train
    ingest = relative_sources("doclstm.tasks.ingest")
    assert "doclstm/tasks/ingest.py" in ingest and "doclstm/models/model.py" not in ingest
    assert ingest == sorted(ingest)


def test_an_unknown_module_is_refused() -> None:
    with pytest.raises(ValueError, match="no such module"):
        code_digest("doclstm.tasks.no_such_stage")


def test_a_changed_body_changes_the_digest_of_every_stage_that_imports_it(
    package_copy: Path,
) -> None:
    before = {s: code_digest(f"doclstm.tasks.{s}") for s in ("ingest", "tokenize", "train")}
    bag_fit = package_copy / "training/bag_fit.py"
    bag_fit.write_text(
        bag_fit.read_text().replace("\ndef ", "\ndef _extra() -> int:\n    return 1\n\n\ndef ", 1)
    )
    digest_module.clear_cache()
    after = {s: code_digest(f"doclstm.tasks.{s}") for s in before}
    assert after["train"] != before["train"]
    assert after["ingest"] == before["ingest"] and after["tokenize"] == before["tokenize"]


def test_prose_and_layout_leave_the_digest_as_it_was(package_copy: Path) -> None:
    before = code_digest("doclstm.tasks.train")
    bag_fit = package_copy / "training/bag_fit.py"
    text = bag_fit.read_text()
    reworded = text.replace('"""', '"""Said otherwise. ', 1) + "\n# a comment at the end\n"
    bag_fit.write_text(reworded.replace("\n\n\n", "\n\n\n\n"))
    commands = package_copy / "cli/commands.py"
    commands.write_text(commands.read_text().replace("Run one stage", "Run a single stage"))
    digest_module.clear_cache()
    assert code_digest("doclstm.tasks.train") == before


@settings(max_examples=30, deadline=None)
@given(
    docstring=st.text(
        st.characters(whitelist_categories=("L", "N", "P", "Zs"), blacklist_characters='\\"')
    )
)
def test_any_docstring_normalizes_away(
    tmp_path_factory: pytest.TempPathFactory, docstring: str
) -> None:
    folder = tmp_path_factory.mktemp("module")
    plain, documented = folder / "plain.py", folder / "documented.py"
    plain.write_text("def f(x):\n    return x + 1\n")
    documented.write_text(
        f'"""{docstring}"""\n\ndef f(x):\n    """{docstring}"""\n    return x + 1\n'
    )
    assert digest_module._normalized(plain) == digest_module._normalized(documented)
    changed = folder / "changed.py"
    changed.write_text("def f(x):\n    return x + 2\n")
    assert digest_module._normalized(changed) != digest_module._normalized(plain)


def test_threads_asking_at_once_get_one_answer() -> None:
    """The score flow's shard tasks ask from threads; CPython 3.11's parser fails when two
    threads parse at once ("AST constructor recursion depth mismatch"), which a garbage
    collection that lets another thread run in the middle of a parse brings about."""
    import gc
    import time
    from concurrent.futures import ThreadPoolExecutor

    def switch_threads(phase: str, info: dict) -> None:
        time.sleep(0.0001)

    gc.callbacks.append(switch_threads)  # the list gc runs, not a copy
    threshold = gc.get_threshold()
    gc.set_threshold(50)
    try:
        for _ in range(2):
            digest_module.clear_cache()
            modules = [f"doclstm.tasks.{s}" for s in ("train", "score", "register", "gate")]
            with ThreadPoolExecutor(max_workers=4) as pool:
                answers = list(pool.map(code_digest, modules * 2))
            assert len(set(answers)) == 4
    finally:
        gc.callbacks.remove(switch_threads)
        gc.set_threshold(*threshold)
        digest_module.clear_cache()


def test_a_parse_broken_by_another_threads_parse_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = digest_module.ast.parse
    failures = iter([True, True])

    def flaky(source: str) -> object:
        if next(failures, False):
            raise SystemError("AST constructor recursion depth mismatch (before=111, after=77)")
        return real(source)

    monkeypatch.setattr(digest_module.ast, "parse", flaky)
    assert digest_module._parse("x = 1").body  # two spurious failures, then the tree

    def broken(source: str) -> object:
        raise SystemError("AST constructor recursion depth mismatch")

    monkeypatch.setattr(digest_module.ast, "parse", broken)
    with pytest.raises(SystemError):
        digest_module._parse("x = 1")
