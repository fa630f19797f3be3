"""MkDocs hooks: the pages made from the project itself, so that they cannot drift.

- `<!-- readme:guide -->`: the guide part of README.md (between its `guide:start` and
  `guide:end` markers), its links to docs/ and BENCHMARKS.md made relative to the page;
- `<!-- reference:params -->`: every setting, from the typed schema
  (doclstm/config/params_reference.py), described by the schema's comments or else by
  the shipped params.yaml's;
- `<!-- reference:cli -->`: every command, from the command line itself
  (doclstm/cli/reference.py);
- `<!-- benchmarks -->`: BENCHMARKS.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s#]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    here = Path(page.file.src_uri).parent
    if "<!-- readme:guide -->" in markdown:
        markdown = markdown.replace("<!-- readme:guide -->", _readme_guide(here))
    if "<!-- reference:params -->" in markdown:
        from doclstm.config.params_reference import reference_markdown

        params = reference_markdown(yaml_comments(ROOT / "params.yaml"))
        markdown = markdown.replace("<!-- reference:params -->", params)
    if "<!-- reference:cli -->" in markdown:
        from doclstm.cli.reference import command_markdown

        markdown = markdown.replace("<!-- reference:cli -->", command_markdown())
    if "<!-- benchmarks -->" in markdown:
        text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
        body = text.split("\n", 1)[1]  # the page has its own title
        markdown = markdown.replace("<!-- benchmarks -->", _relinked(body, here))
    return markdown


def _readme_guide(here: Path) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    guide = text.split("<!-- guide:start -->", 1)[1].split("<!-- guide:end -->", 1)[0]
    return _relinked(guide, here)


def _relinked(text: str, here: Path) -> str:
    """Links written from the repository's top (docs/..., BENCHMARKS.md, README.md) as
    links from the page at `here` (a folder under docs/)."""

    def fix(match: re.Match[str]) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        if target.startswith(("http://", "https://")):
            return match.group(0)
        if target.startswith("docs/"):
            doc = target.removeprefix("docs/")
        elif target == "BENCHMARKS.md":
            doc = "benchmarks.md"
        elif target == "README.md":
            doc = "guide.md"
        else:
            return match.group(0)
        return f"]({os.path.relpath(doc, here)}{anchor})"

    return LINK.sub(fix, text)


def yaml_comments(path: Path) -> dict[str, str]:
    """The comment at the end of each key's line in a params file, by dotted key."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\s*)([A-Za-z_]\w*):(.*)$", line)
        if not match:
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        comment = re.search(r"\s#\s?(.*)$", rest)
        if comment:
            found[".".join(k for _, k in stack)] = comment.group(1).strip()
    return found
