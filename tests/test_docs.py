"""The README's links lead somewhere, the documents a user reads point only at what a
clone holds (no development machine's paths), the README stays a short guide, and the
generated references of the docs site hold every setting and every command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
USER_DOCS = (
    "README.md",
    "BENCHMARKS.md",
    "profiles/imdb.yaml",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")),
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_in_the_readme_leads_to_a_heading_or_a_file() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    anchors = {_anchor(h) for h in re.findall(r"(?m)^#{1,4} (.+)$", text)}
    links = LINK.findall(text)
    assert len(links) > 10
    for link in links:
        if link.startswith("#"):
            assert link[1:] in anchors, f"README link {link} has no heading"
        elif not link.startswith(("http://", "https://")):
            assert (ROOT / link).exists(), f"README link {link} names no file"


@pytest.mark.parametrize("name", USER_DOCS)
def test_user_documents_name_nothing_outside_a_clone(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/" not in text, name


def test_the_readme_is_a_short_guide_whose_guide_the_docs_site_includes() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    assert text.count("<!-- guide:start -->") == text.count("<!-- guide:end -->") == 1
    assert "<!-- readme:guide -->" in (ROOT / "docs/guide.md").read_text(encoding="utf-8")


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, item in value.items():
            found |= _leaves(item, f"{prefix}{key}.")
        return found
    return {prefix.rstrip("."): value}


def test_the_settings_reference_lists_every_key_with_its_default() -> None:
    """Against the settings as pydantic loads them: every key of the defaults (a source's
    keys under `[]`), with the default a params file left empty gets."""
    from doclstm.config.params import SearchRange, SourceParams, load_params
    from doclstm.config.params_reference import setting_rows, yaml_value

    rows = {row.key: row for row in setting_rows()}
    defaults = load_params(None).model_dump(mode="json", by_alias=True)
    expected = {k: v for k, v in _leaves(defaults, "").items() if k != "ingest.source"}
    expected.pop("score.input.path")  # required of a source given as a mapping
    # the search space: one row, written as a params file would (each range's own keys)...
    expected = {k: v for k, v in expected.items() if not k.startswith("tune.space.")}
    expected["tune.space"] = {
        key: {k: v for k, v in entry.items() if v not in (None, False)}
        for key, entry in defaults["tune"]["space"].items()
    }
    # ...and the keys a range may hold, with theirs
    fields = SearchRange.model_fields.items()
    ranged = {f"tune.space.<setting>.{k}": f.default for k, f in fields}
    for key, value in ranged.items():
        assert rows[key].default == yaml_value(value), key
    for key, value in expected.items():
        assert key in rows, f"the reference has no {key}"
        assert rows[key].default == yaml_value(value), key
    # a list of sources: each one's keys, with a source's own defaults
    listed = {f"ingest.source[].{k}": v for k, v in SourceParams(path="x").model_dump().items()}
    listed.pop("ingest.source[].path")
    for key, value in listed.items():
        assert rows[key].default == yaml_value(value), key
    required = {"ingest.source[].path", "score.input.path"}
    assert all(rows[key].default == "required" for key in required)
    assert set(rows) == (
        set(expected) | set(listed) | set(ranged) | required | {"ingest.source", "score.input"}
    )


def test_the_settings_page_describes_every_key() -> None:
    """As the docs site renders it: the schema's comments, else the shipped params.yaml's."""
    import importlib.util

    from doclstm.config.params_reference import reference_markdown

    spec = importlib.util.spec_from_file_location("hooks", ROOT / "docs/hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = reference_markdown(hooks.yaml_comments(ROOT / "params.yaml"))
    rows = [line.split(" | ") for line in page.splitlines() if line.startswith("| `")]
    assert len(rows) > 150
    assert [row[0] for row in rows if row[-1].strip(" |") == ""] == []


def test_the_command_reference_holds_every_command_and_option_that_help_shows() -> None:
    from typer.testing import CliRunner

    from doclstm.cli.commands import app
    from doclstm.cli.reference import command_markdown, command_paths

    page = command_markdown()
    runner = CliRunner()
    top = runner.invoke(app, ["--help"], terminal_width=200).output
    groups = {path.split()[0] for path in command_paths()}
    assert groups and all(name in top for name in groups)
    for path in command_paths():
        assert f"## `doclstm {path}`" in page
        shown = runner.invoke(app, [*path.split(), "--help"], terminal_width=200).output
        for flag in set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", shown)) - {"--help"}:
            assert flag in page, f"doclstm {path}: {flag}"
