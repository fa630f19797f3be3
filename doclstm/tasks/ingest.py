"""ingest: read document sources into Parquet, accounting for every document.

Output contract (`data/ingested/`): `part-NNNNN.parquet` with doc_id, text,
label (or labels, several a document), split, source, sha256, decode_errors,
plus `manifest.json`; documents that cannot be used go to
`data/quarantine/ingest.parquet` with a reason.
Sources (`ingest.source`: one or a list) are read in order as streams, so
memory is bounded by one row group whatever their size. Invariant, checked
on every run against what the writers wrote: seen = ingested + quarantined.
What a user should hear about a source (no documents, labels that went
unread, bytes replaced; doclstm/sources/source_checks.py) is logged as a warning and
kept in the manifest summary and the result's `warnings`.

Run: `doclstm stage ingest` (or the `ingest` task of flows/training.py).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doclstm.config.params import IngestParams
from doclstm.console.log_text import reasons_note
from doclstm.sources.archive_members import ReadLimits
from doclstm.sources.documents import RawDocument, decode_text
from doclstm.sources.read_ahead import read_ahead
from doclstm.sources.resolve import ResolvedSource, resolve_source, source_fingerprint
from doclstm.sources.source_checks import source_warnings
from doclstm.sources.splits import assign_split
from doclstm.storage.atomic import atomic_dir
from doclstm.storage.manifest import (
    StageManifest,
    file_entry,
    fresh_manifest,
    outside_name,
    stage_fingerprint,
)
from doclstm.storage.table_writer import PartedWriter, TableWriter
from doclstm.storage.tables import DOCUMENTS, QUARANTINE

log = logging.getLogger(__name__)
QUARANTINE_FILE = "ingest.parquet"
PROGRESS_EVERY = 25_000
# "reviews.csv line 17: broken CSV record" counts as "broken CSV record" in the summary.
_LOCATION = re.compile(r"^.* (line|row) \d+: ")


@dataclass(frozen=True)
class IngestResult:
    out_dir: Path
    quarantine_file: Path
    seen: int
    ingested: int
    quarantined: int
    by_split: dict[str, int]
    cached: bool
    warnings: list[str]


def ingest_documents(
    params: IngestParams, workspace_root: Path, out_dir: Path, quarantine_dir: Path
) -> IngestResult:
    """Ingest every source of `params.source`; skipped when sources and params are unchanged."""
    sources = [resolve_source(spec, workspace_root) for spec in params.source]
    fingerprint = stage_fingerprint(
        "ingest", __name__, params, sources={s.name: source_fingerprint(s) for s in sources}
    )
    quarantine_file = quarantine_dir / QUARANTINE_FILE
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:  # its files include the quarantine file, checksum and all
        log.info("ingest: sources unchanged, reusing %s", out_dir)
        return _result(out_dir, quarantine_file, cached.summary, cached=True)

    with atomic_dir(out_dir) as tmp:
        documents = PartedWriter(tmp, DOCUMENTS, params.rows_per_part, params.row_group_rows)
        try:
            with TableWriter(quarantine_file, QUARANTINE, params.row_group_rows) as quarantine:
                per_source = [_ingest_source(s, params, documents, quarantine) for s in sources]
            parts = documents.close()
        except BaseException:
            documents.abort()
            raise
        summary = _summary(per_source, parts, quarantine.rows)
        files = {name: file_entry(tmp / name, rows) for name, rows in parts.items()}
        files[outside_name(quarantine_file, out_dir)] = file_entry(quarantine_file, quarantine.rows)
        StageManifest("ingest", fingerprint, files, summary).write(tmp)
    log.info(
        "ingest: %d documents seen, %d ingested, %d quarantined",
        summary["seen"],
        summary["ingested"],
        summary["quarantined"],
    )
    return _result(out_dir, quarantine_file, summary, cached=False)


def _ingest_source(
    source: ResolvedSource,
    params: IngestParams,
    documents: PartedWriter,
    quarantine: TableWriter,
) -> dict[str, Any]:
    limits = ReadLimits(params.max_document_bytes, params.max_source_bytes)
    seen = ingested = decode_flagged = labelled = 0
    reasons: Counter[str] = Counter()
    by_split: Counter[str] = Counter()
    for raw in read_ahead(source, limits, params.row_group_rows):
        seen += 1
        if seen % PROGRESS_EVERY == 0:
            log.info("ingest: %s: %d documents read", source.name, seen)
        decoded = decode_text(raw.data)
        if raw.refused is not None:
            quarantine.add(_quarantine_row(raw, decoded.text, source.name))
            reasons[_LOCATION.sub("", raw.refused)] += 1
            continue
        split = assign_split(
            raw.doc_id,
            raw.source_split,
            raw.labelled,
            params.test_fraction,
            params.val_fraction,
        )
        documents.add(
            {
                "doc_id": raw.doc_id,
                "text": decoded.text,
                "label": raw.label,
                "labels": None if raw.labels is None else list(raw.labels),
                "split": split,
                "source": source.name,
                "sha256": hashlib.sha256(decoded.text.encode("utf-8")).hexdigest(),
                "decode_errors": decoded.decode_errors,
            }
        )
        ingested += 1
        labelled += raw.labelled
        decode_flagged += decoded.decode_errors
        by_split[split] += 1
    quarantined = sum(reasons.values())
    outside = sum(n for reason, n in reasons.items() if reason.startswith("outside the layout"))
    warnings = source_warnings(
        source, seen, labelled, outside, decode_flagged, params.max_document_bytes
    )
    for warning in warnings:
        log.warning("ingest: %s", warning)
    log.info(
        "ingest: %s: %d seen, %d ingested, %d quarantined%s",
        source.name,
        seen,
        ingested,
        quarantined,
        reasons_note(reasons),
    )
    return {
        "source": source.name,
        "format": source.format,
        "seen": seen,
        "ingested": ingested,
        "quarantined": quarantined,
        "decode_errors": decode_flagged,
        "by_split": dict(sorted(by_split.items())),
        "reasons": dict(sorted(reasons.items())),
        "warnings": warnings,
    }


def _summary(
    per_source: list[dict[str, Any]], parts: dict[str, int], quarantined: int
) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(s[key] for s in per_source)

    by_split: Counter[str] = Counter()
    for s in per_source:
        by_split.update(s["by_split"])
    summary = {
        "seen": total("seen"),
        "ingested": total("ingested"),
        "quarantined": total("quarantined"),
        "decode_errors": total("decode_errors"),
        "by_split": dict(sorted(by_split.items())),
        "sources": per_source,
        "warnings": [w for s in per_source for w in s["warnings"]],
    }
    written = sum(parts.values())
    if summary["seen"] != written + quarantined:
        raise AssertionError(
            f"ingest lost documents: {summary['seen']} seen != {written} written + "
            f"{quarantined} quarantined"
        )
    return summary


def _quarantine_row(raw: RawDocument, text: str, source: str) -> dict[str, Any]:
    return {
        "doc_id": raw.doc_id,
        "text": text or None,
        "label": raw.label,
        "labels": None if raw.labels is None else list(raw.labels),
        "split": raw.source_split,
        "source": source,
        "stage": "ingest",
        "reason": raw.refused,
    }


def _result(out_dir: Path, qfile: Path, summary: dict[str, Any], cached: bool) -> IngestResult:
    return IngestResult(
        out_dir=out_dir,
        quarantine_file=qfile,
        seen=summary["seen"],
        ingested=summary["ingested"],
        quarantined=summary["quarantined"],
        by_split=summary["by_split"],
        cached=cached,
        warnings=summary["warnings"],
    )
