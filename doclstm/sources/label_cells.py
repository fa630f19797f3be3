"""A table's label cell: one label, several, a labelled "no label", or why it is refused.

A list cell (a JSON Lines array, a Parquet list) is always several labels; a text
cell is one label, or several when the source sets `label_separator`. A null or
empty cell is an unlabelled document, except where the source allows "no label"
and splits on a separator: then an empty cell is a labelled document that has no
label, as an empty list is. A list that holds a non-string or an empty label, or
names a label twice, is refused with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from doclstm.sources.documents import decode_text


@dataclass(frozen=True)
class LabelCell:
    label: str | None = None
    labels: tuple[str, ...] | None = None
    refused: str | None = None
    shown: str | None = None  # the cell as text, kept with a refused document


def read_label_cell(value: Any, separator: str | None, allow_no_label: bool) -> LabelCell:
    if isinstance(value, list | tuple):
        return _label_list(value, allow_no_label)
    text = cell_text(value)
    if separator is None:
        return LabelCell(label=text)
    if text is None:
        return LabelCell(labels=()) if allow_no_label else LabelCell()
    pieces = [piece.strip() for piece in text.split(separator)]
    if "" in pieces:
        return _refused(f"empty label in {text!r} (label_separator {separator!r})", text)
    twice = _first_repeat(pieces)
    if twice is not None:
        return _refused(f"label {twice!r} twice in {text!r}", text)
    return LabelCell(label=pieces[0]) if len(pieces) == 1 else LabelCell(labels=tuple(pieces))


def cell_text(value: Any) -> str | None:
    """A table cell as valid text; empty and null cells are missing."""
    if value is None:
        return None
    text = decode_text(value if isinstance(value, str | bytes) else str(value)).text.strip()
    return text or None


def _label_list(items: list[Any] | tuple[Any, ...], allow_no_label: bool) -> LabelCell:
    shown = json.dumps(list(items), ensure_ascii=False, default=repr)
    if not items:
        if allow_no_label:
            return LabelCell(labels=())
        return _refused("empty label list (a source's allow_no_label: true keeps it)", shown)
    labels = []
    for item in items:
        if not isinstance(item, str):
            return _refused(f"label list holds a non-string ({item!r})", shown)
        label = cell_text(item)
        if label is None:
            return _refused("label list holds an empty label", shown)
        labels.append(label)
    twice = _first_repeat(labels)
    if twice is not None:
        return _refused(f"label {twice!r} twice in the label list", shown)
    return LabelCell(labels=tuple(labels))


def _first_repeat(labels: list[str]) -> str | None:
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            return label
        seen.add(label)
    return None


def _refused(reason: str, shown: str) -> LabelCell:
    return LabelCell(refused=reason, shown=shown)
