"""The README's links lead somewhere, and the documents a user reads point only at what
a clone holds (no development machine's paths)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USER_DOCS = ("README.md", "BENCHMARKS.md", "docs/design.md", "profiles/imdb.yaml")
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
