"""The one completion-marker scheme of sharded outputs: `<folder>/_done/part-NNNNN.json`.

A shard (`<folder>/part-NNNNN.parquet`) is written atomically, then its marker: a JSON
record that holds the shard's sha256 beside whatever the writer records about it. A
shard counts as complete only when its marker is there and the checksum agrees, so a
crash between the two, or a torn or edited shard, reads as not done and is written
again. Underscore folders are skipped by Arrow and Spark, so a scored folder reads as
one dataset. Scoring's output shards and its staged input shards (`_input/`) use it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from doclstm.storage.atomic import write_json
from doclstm.storage.code_digest import code_digest
from doclstm.storage.fingerprint import sha256_file
from doclstm.storage.tables import write_table

MARKERS = "_done"


def marker_path(shard: Path) -> Path:
    return shard.parent / MARKERS / (shard.name.removesuffix(".parquet") + ".json")


def write_shard(table: pa.Table, shard: Path, record: dict[str, Any]) -> None:
    """`table` into `shard`, then its marker: `record` plus the shard's sha256."""
    write_table(table, shard)
    write_json(marker_path(shard), {**record, "sha256": sha256_file(shard)})


def read_marker(shard: Path) -> dict[str, Any] | None:
    """The marker's record, whether or not the shard still verifies; None without one."""
    marker = marker_path(shard)
    if not marker.is_file():
        return None
    record: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
    return record


def verifies(shard: Path, record: dict[str, Any]) -> bool:
    """True when `shard` is there and has the checksum its marker `record` holds."""
    return shard.is_file() and sha256_file(shard) == record["sha256"]


def completed(shard: Path) -> dict[str, Any] | None:
    """The marker's record when the shard is complete, else None."""
    record = read_marker(shard)
    return record if record is not None and verifies(shard, record) else None


def remove_shard(shard: Path) -> None:
    """The shard and its marker, whichever is there."""
    shard.unlink(missing_ok=True)
    marker_path(shard).unlink(missing_ok=True)


def scoring_code() -> str:
    """The digest of the scoring code (doclstm.scoring.shards and what it imports) each
    marker records: a shard scored by other code is scored again."""
    return code_digest("doclstm.scoring.shards")
