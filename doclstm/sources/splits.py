"""Deterministic split assignment from a document id.

Keeps the source's own test and val splits (a table's split column may say
val, dev or validation); otherwise a hash of doc_id decides test, and a
second, independent hash carves val from train. A row cannot tell whether
its source has a val split of its own, so the source's train rows are
carved too: val is then the source's val plus `ingest.val_fraction` of its
train. The same doc_id always lands in the same split, on every machine.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")
UNLABELLED = "unlabelled"


def unit_hash(doc_id: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}\x00{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(
    doc_id: str,
    source_split: str | None,
    labelled: bool,
    test_fraction: float,
    val_fraction: float,
) -> str:
    if not labelled:
        return UNLABELLED
    if source_split in ("test", "val"):
        return source_split
    if source_split is None and unit_hash(doc_id, "test") < test_fraction:
        return "test"
    return "val" if unit_hash(doc_id, "val") < val_fraction else "train"
