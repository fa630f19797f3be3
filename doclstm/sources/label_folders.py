"""Where the documents sit in a folder tree or archive, and what their path says.

A tree holds documents as `<root>/<split>/<label>/<file>` (the aclImdb
layout), `<root>/<label>/<file>`, or `<root>/<file>` (unlabelled). Archives
usually wrap the tree in one folder and carry strays beside it (aclImdb's
README and imdb.vocab). The layout is inferred from the first files seen, so
that archives are read as one stream: the most common file depth among them
decides the levels, and the folder above those levels is the root. Files
elsewhere are refused as outside the layout, never guessed at. A source can
pin `root` and `layout` when inference would be wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SOURCE_SPLITS = frozenset({"train", "test"})
UNLABELLED_FOLDERS = frozenset({"unsup"})
LayoutKind = Literal["splits", "labels", "files"]
_LEVELS: dict[LayoutKind, int] = {"splits": 2, "labels": 1, "files": 0}


@dataclass(frozen=True)
class Placement:
    """What a document's path says: its id (path below the root), label and split."""

    doc_id: str
    label: str | None
    split: str | None


@dataclass(frozen=True)
class LabelLayout:
    root: tuple[str, ...]
    kind: LayoutKind

    def place(self, parts: Sequence[str]) -> Placement | str:
        """The placement of a file at `parts`, or why it is outside the layout."""
        depth = len(self.root) + _LEVELS[self.kind] + 1
        if tuple(parts[: len(self.root)]) != self.root or len(parts) != depth:
            return f"outside the layout: expected {self.describe()}"
        below = parts[len(self.root) :]
        if self.kind == "splits" and below[0] not in SOURCE_SPLITS:
            return f"outside the layout: {below[0]!r} is not a train/test folder"
        label = below[-2] if self.kind != "files" else None
        return Placement(
            doc_id="/".join(below),
            label=None if label in UNLABELLED_FOLDERS else label,
            split=below[0] if self.kind == "splits" else None,
        )

    def describe(self) -> str:
        levels = {"splits": "<train|test>/<label>/", "labels": "<label>/", "files": ""}
        prefix = "".join(f"{part}/" for part in self.root)
        return f"{prefix}{levels[self.kind]}<file>"


def infer_layout(
    sample: Sequence[Sequence[str]], root: str = "", kind: LayoutKind | Literal["auto"] = "auto"
) -> LabelLayout:
    """The layout that places most of `sample` (file paths split into parts).

    `root` and `kind`, when given, win over what the sample suggests.
    """
    fixed_root = tuple(p for p in root.strip("/").split("/") if p)
    files = [tuple(p) for p in sample if tuple(p[: len(fixed_root)]) == fixed_root]
    if not files:
        return LabelLayout(fixed_root, "labels" if kind == "auto" else kind)
    # Most common depth; ties go to the deeper one (strays sit higher than documents).
    depths = Counter(len(p) for p in files)
    depth = max(depths, key=lambda d: (depths[d], d))
    at_depth = [p for p in files if len(p) == depth]
    if kind == "auto":
        kind = _kind_at(at_depth, depth - len(fixed_root) if root else depth)
    if root:
        return LabelLayout(fixed_root, kind)
    levels = _LEVELS[kind] + 1
    prefixes = Counter(p[: depth - levels] for p in at_depth)
    return LabelLayout(max(prefixes, key=lambda r: (prefixes[r], r)), kind)


def _kind_at(files: list[tuple[str, ...]], levels: int) -> LayoutKind:
    if levels >= 3 and sum(p[-3] in SOURCE_SPLITS for p in files) * 2 > len(files):
        return "splits"
    return "labels" if levels >= 2 else "files"
