"""Parquet contracts of the pipeline and their atomic, verified I/O.

Every table is written zstd-compressed to a temporary name and renamed into
place; readers of stage outputs go through the stage manifest, which checks
each file's sha256 before it is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq

from doclstm.storage.atomic import atomic_path
from doclstm.storage.manifest import StageManifest

DOCUMENTS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("text", pa.string()),
        ("label", pa.string()),
        # several labels (a multi-label source); `label` is then null; [] is "no label"
        ("labels", pa.list_(pa.string())),
        ("split", pa.string()),
        ("source", pa.string()),
        ("sha256", pa.string()),
        ("decode_errors", pa.bool_()),
    ]
)

QUARANTINE = pa.schema(
    [
        ("doc_id", pa.string()),
        ("text", pa.string()),
        ("label", pa.string()),
        ("labels", pa.list_(pa.string())),
        ("split", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
    ]
)

TOKENS = pa.schema(
    [
        ("doc_id", pa.string()),
        ("label_id", pa.int32()),
        ("length", pa.int32()),  # tokens stored: len(input_ids)
        ("input_ids", pa.list_(pa.int32())),
        ("full_length", pa.int32()),  # tokens before tokenize.max_tokens cut any
    ]
)

# The token shards of a multi-label dataset: a document's label ids as a list ([]: no label).
TOKENS_MULTI = pa.schema(
    [("label_ids", pa.list_(pa.int32())) if f.name == "label_id" else f for f in TOKENS]
)


def write_table(table: pa.Table, dest: Path, row_group_rows: int = 8_192) -> Path:
    """Write `table` to `dest` atomically (zstd, streaming-sized row groups)."""
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_rows)
    return dest


def iter_verified_batches(
    out_dir: Path,
    manifest: StageManifest,
    prefix: str = "",
    columns: list[str] | None = None,
    batch_rows: int = 65_536,
) -> Iterator[pa.RecordBatch]:
    """Stream the manifest's data shards (`part-NNNNN.parquet`) under `prefix`, each checked
    before reading; other files a manifest lists (tokenizer, quarantine) are not data."""
    for name in data_parts(manifest, prefix):
        path = manifest.verified_file(out_dir, name)
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns)


PART_GLOB = "part-*.parquet"  # the data files of every Parquet dataset the pipeline writes


def data_parts(manifest: StageManifest, prefix: str) -> list[str]:
    """The manifest's data shards under `prefix`, in order (names relative to its folder)."""
    return sorted(
        n for n in manifest.files if n.startswith(prefix) and PurePosixPath(n).match(PART_GLOB)
    )


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"
