"""ingest: read a document source into Parquet, accounting for every document.

Output contract (`data/ingested/`): `part-NNNNN.parquet` with doc_id, text,
label, split, source, sha256, decode_errors, plus `manifest.json`; documents
that cannot be used go to `data/quarantine/ingest.parquet` with a reason.
Invariant, checked on every run: seen = ingested + quarantined.

Run: `doclstm stage ingest` (or the `ingest` task of flows/pipeline.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import task

from doclstm.atomic import atomic_dir
from doclstm.fingerprint import sha256_json, sha256_text
from doclstm.manifest import (
    StageManifest,
    file_entry,
    fresh_manifest,
    outside_name,
    stage_fingerprint,
)
from doclstm.params import IngestParams
from doclstm.sources import RawDocument, decode_text, iter_folder, resolve_source
from doclstm.splits import assign_split
from doclstm.tables import DOCUMENTS, QUARANTINE, part_name, write_table

log = logging.getLogger(__name__)
QUARANTINE_FILE = "ingest.parquet"


@dataclass(frozen=True)
class IngestResult:
    out_dir: Path
    quarantine_file: Path
    seen: int
    ingested: int
    quarantined: int
    by_split: dict[str, int]
    cached: bool


def ingest_documents(
    params: IngestParams, workspace_root: Path, out_dir: Path, quarantine_dir: Path
) -> IngestResult:
    """Ingest `params.source` into `out_dir`; skipped when source and params are unchanged."""
    source_name, root = resolve_source(params.source, workspace_root)
    fingerprint = stage_fingerprint("ingest", params, source=_folder_fingerprint(root))
    quarantine_file = quarantine_dir / QUARANTINE_FILE
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:  # its files include the quarantine file, checksum and all
        log.info("ingest: %s unchanged, reusing %s", source_name, out_dir)
        return _result(out_dir, quarantine_file, cached.summary, cached=True)

    with atomic_dir(out_dir) as tmp:
        summary = _ingest_into(params, source_name, root, tmp, quarantine_file)
        files = {name: file_entry(tmp / name, rows) for name, rows in summary.pop("parts").items()}
        files[outside_name(quarantine_file, out_dir)] = file_entry(
            quarantine_file, summary["quarantined"]
        )
        StageManifest("ingest", fingerprint, files, summary).write(tmp)
    log.info(
        "ingest: %d documents seen, %d ingested, %d quarantined",
        summary["seen"],
        summary["ingested"],
        summary["quarantined"],
    )
    return _result(out_dir, quarantine_file, summary, cached=False)


ingest = task(name="ingest", retries=0)(ingest_documents)


def _ingest_into(
    params: IngestParams, source_name: str, root: Path, out_dir: Path, quarantine_file: Path
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    parts: dict[str, int] = {}
    by_split: Counter[str] = Counter()
    seen = decode_flagged = 0
    for raw in iter_folder(root):
        seen += 1
        row = _to_row(raw, source_name, params)
        if raw.refused is not None:
            quarantined.append(_quarantine_row(row, raw.refused))
            continue
        decode_flagged += int(row["decode_errors"])
        by_split[row["split"]] += 1
        rows.append(row)
        if len(rows) >= params.rows_per_part:
            parts[_flush(rows, out_dir, len(parts))] = len(rows)
            rows = []
    if rows or not parts:
        parts[_flush(rows, out_dir, len(parts))] = len(rows)
    write_table(pa.Table.from_pylist(quarantined, schema=QUARANTINE), quarantine_file)
    ingested = sum(parts.values())
    if seen != ingested + len(quarantined):
        raise AssertionError(
            f"ingest lost documents: {seen} seen != {ingested} + {len(quarantined)}"
        )
    return {
        "source": source_name,
        "seen": seen,
        "ingested": ingested,
        "quarantined": len(quarantined),
        "decode_errors": decode_flagged,
        "by_split": dict(sorted(by_split.items())),
        "parts": parts,
    }


def _to_row(raw: RawDocument, source_name: str, params: IngestParams) -> dict[str, Any]:
    decoded = decode_text(raw.data)
    return {
        "doc_id": raw.doc_id,
        "text": decoded.text,
        "label": raw.label,
        "split": assign_split(
            raw.doc_id,
            raw.source_split,
            raw.label is not None,
            params.test_fraction,
            params.val_fraction,
        ),
        "source": source_name,
        "sha256": sha256_text(decoded.text),
        "decode_errors": decoded.decode_errors,
    }


def _quarantine_row(row: dict[str, Any], reason: str) -> dict[str, Any]:
    return {key: row[key] for key in ("doc_id", "text", "label", "split", "source")} | {
        "stage": "ingest",
        "reason": reason,
    }


def _flush(rows: list[dict[str, Any]], out_dir: Path, index: int) -> str:
    name = part_name(index)
    write_table(pa.Table.from_pylist(rows, schema=DOCUMENTS), out_dir / name)
    return name


def _folder_fingerprint(root: Path) -> str:
    """Cheap change detector: every file's relative path, size and mtime (as make and DVC do)."""
    entries = []
    for path in sorted(root.rglob("*")):
        if path.is_file() or path.is_symlink():
            stat = path.lstat()
            entries.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return sha256_json(entries)


def _result(out_dir: Path, qfile: Path, summary: dict[str, Any], cached: bool) -> IngestResult:
    return IngestResult(
        out_dir=out_dir,
        quarantine_file=qfile,
        seen=summary["seen"],
        ingested=summary["ingested"],
        quarantined=summary["quarantined"],
        by_split=summary["by_split"],
        cached=cached,
    )
