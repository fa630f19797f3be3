"""Rows of the ingested schema, made by hand for the validation tests."""

from __future__ import annotations

import hashlib


def document_row(doc_id: str, text: str | None, label: str | None, split: str) -> dict:
    """One ingested document, with the sha256 ingest would give its text."""
    return {
        "doc_id": doc_id,
        "text": text,
        "label": label,
        "split": split,
        "source": "t",
        "sha256": None if text is None else hashlib.sha256(text.encode()).hexdigest(),
        "decode_errors": False,
    }
