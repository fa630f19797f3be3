"""Documents from tables: CSV, JSON Lines and Parquet, with configurable columns.

Rows are streamed; a row that cannot be read becomes a refused document
naming its line (CSV, JSONL) or row (Parquet), and reading goes on. A CSV
record broken by a stray quote would otherwise swallow every line up to the
next quote: the reader quarantines the record's first line and reads the
lines it swallowed again as records of their own. Problems with the whole
file (missing column, unreadable Parquet) are a `DoclstmError` naming it.

doc_id is the id column's value, or `<file name>:line<N>` (`:row<N>` for
Parquet) when the table has no id column. The label cell may hold several
labels (doclstm/sources/label_cells.py).
"""

from __future__ import annotations

import csv
import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from doclstm.config.params import SourceParams
from doclstm.errors import DoclstmError
from doclstm.sources.documents import RawDocument, refused
from doclstm.sources.label_cells import cell_text, read_label_cell
from doclstm.storage.tables import PART_GLOB

_TEXT_TYPES = (
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_binary,
    pa.types.is_large_binary,
)
SPLIT_NAMES = {"train": "train", "test": "test", "val": "val", "validation": "val", "dev": "val"}


@dataclass(frozen=True)
class _Columns:
    """Where each field sits in a table, resolved against its header."""

    text: str
    label: str | None
    doc_id: str | None
    split: str | None
    label_separator: str | None = None
    allow_no_label: bool = False

    @classmethod
    def resolve(cls, spec: SourceParams, header: Iterable[str], path: Path) -> _Columns:
        names = set(header)

        def pick(field: str, column: str | None, required: bool) -> str | None:
            if column is None or column in names:
                return column
            if required or field in spec.model_fields_set:
                raise DoclstmError(
                    f"{path}: no column {column!r} (ingest source {field}); the table has "
                    f"{', '.join(sorted(names)) or 'no columns'}"
                )
            return None  # a default column the table does not have

        text = pick("text_column", spec.text_column, required=True)
        assert text is not None, "the text column is required"
        return cls(
            text,
            pick("label_column", spec.label_column, required=False),
            pick("id_column", spec.id_column, required=False),
            pick("split_column", spec.split_column, required=False),
            spec.label_separator,
            spec.allow_no_label,
        )

    def document(self, record: dict[str, Any], fallback_id: str, where: str) -> RawDocument:
        doc_id = fallback_id if self.doc_id is None else cell_text(record.get(self.doc_id))
        if doc_id is None:
            return refused(fallback_id, f"{where}: empty id in column {self.doc_id!r}")
        text = record.get(self.text)
        if text is None:
            return refused(doc_id, f"{where}: no text in column {self.text!r}")
        if not isinstance(text, str | bytes):
            return refused(doc_id, f"{where}: column {self.text!r} is not text", str(text))
        split = None if self.split is None else cell_text(record.get(self.split))
        if split is not None and split.lower() not in SPLIT_NAMES:
            known = "/".join(SPLIT_NAMES)
            return refused(doc_id, f"{where}: split {split!r} is not one of {known}", text)
        source_split = None if split is None else SPLIT_NAMES[split.lower()]
        if self.label is None:
            return RawDocument(doc_id, text, None, source_split)
        found = record.get(self.label)
        cell = read_label_cell(found, self.label_separator, self.allow_no_label)
        if cell.refused is not None:
            reason = f"{where}: {cell.refused}"
            return RawDocument(doc_id, text, cell.shown, source_split, refused=reason)
        return RawDocument(doc_id, text, cell.label, source_split, labels=cell.labels)


def iter_csv(path: Path, spec: SourceParams, max_bytes: int) -> Iterator[RawDocument]:
    with path.open("rb") as handle:
        records = _csv_records(handle, spec.csv_delimiter, max_bytes)
        first = next(records, None)
        if first is None or first.fields is None:
            raise DoclstmError(f"{path}: no header line; the first line must name the columns")
        header = first.fields
        columns = _Columns.resolve(spec, header, path)
        for record in records:
            where = f"{path.name} line {record.line}"
            fallback = f"{path.name}:line{record.line}"
            if record.fields is None:
                yield refused(fallback, f"{where}: {record.error}", record.raw)
            elif len(record.fields) != len(header):
                reason = f"{where}: {len(record.fields)} fields, the header has {len(header)}"
                yield refused(fallback, reason, record.raw)
            else:
                yield columns.document(
                    dict(zip(header, record.fields, strict=True)), fallback, where
                )


def iter_jsonl(path: Path, spec: SourceParams, max_bytes: int) -> Iterator[RawDocument]:
    columns: _Columns | None = None
    with path.open("rb") as handle:
        for number, line in _bounded_lines(handle, max_bytes):
            where, fallback = f"{path.name} line {number}", f"{path.name}:line{number}"
            if line is None:
                yield refused(fallback, f"{where}: longer than ingest.max_document_bytes")
                continue
            if not line.strip():
                continue
            text = line.decode("utf-8", errors="surrogateescape")
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield refused(fallback, f"{where}: not valid JSON ({exc.msg})", text)
                continue
            if not isinstance(record, dict):
                yield refused(fallback, f"{where}: not a JSON object", text)
                continue
            if columns is None:  # JSON Lines has no header: the first object stands for it
                columns = _Columns.resolve(spec, record, path)
            yield columns.document(record, fallback, where)


def iter_parquet(path: Path, spec: SourceParams, batch_rows: int) -> Iterator[RawDocument]:
    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DoclstmError(f"{path}: not a readable Parquet file ({exc})") from exc
    columns = _Columns.resolve(spec, table.schema_arrow.names, path)
    text_type = table.schema_arrow.field(columns.text).type
    if not any(is_text(text_type) for is_text in _TEXT_TYPES):
        raise DoclstmError(f"{path}: column {columns.text!r} is {text_type}, not text")
    wanted = sorted({c for c in (columns.text, columns.label, columns.doc_id, columns.split) if c})
    row = 0
    try:
        for batch in table.iter_batches(batch_size=batch_rows, columns=wanted):
            for record in batch.to_pylist():
                yield columns.document(record, f"{path.name}:row{row}", f"{path.name} row {row}")
                row += 1
    except (pa.ArrowException, OSError) as exc:
        raise DoclstmError(f"{path}: unreadable after row {row} ({exc})") from exc


def table_columns(path: Path, fmt: str, spec: SourceParams, max_bytes: int) -> list[str]:
    """The column names of a table: its header line (CSV), first object (JSON Lines) or
    schema (Parquet); empty when it has none."""
    if fmt == "parquet":
        parts = sorted(path.glob(PART_GLOB)) if path.is_dir() else [path]
        return pq.ParquetFile(parts[0]).schema_arrow.names if parts else []
    with path.open("rb") as handle:
        if fmt == "csv":
            first = next(_csv_records(handle, spec.csv_delimiter, max_bytes), None)
            return (first.fields or []) if first else []
        for _, line in _bounded_lines(handle, max_bytes):
            if line is not None and line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    return []
                return list(record) if isinstance(record, dict) else []
    return []


@dataclass(frozen=True)
class _Record:
    line: int  # the record's first physical line
    fields: list[str] | None
    raw: str
    error: str | None = None


def _csv_records(handle: BinaryIO, delimiter: str, max_bytes: int) -> Iterator[_Record]:
    """CSV records with their line numbers; a broken record costs one line, not the rest."""
    # Bad bytes survive as lone surrogates, so that the text column can flag them.
    numbered = (
        (n, "" if b is None else b.decode("utf-8", errors="surrogateescape"), b is None)
        for n, b in _bounded_lines(handle, max_bytes)
    )
    replay: deque[tuple[int, str, bool]] = deque()
    consumed: list[tuple[int, str, bool]] = []

    def feed() -> Iterator[str]:
        while True:
            item = replay.popleft() if replay else next(numbered, None)
            if item is None:
                return
            consumed.append(item)
            if item[2]:
                raise csv.Error("line longer than ingest.max_document_bytes")
            yield item[1]

    csv.field_size_limit(max(csv.field_size_limit(), max_bytes))
    reader = csv.reader(feed(), delimiter=delimiter, strict=True)
    width: int | None = None
    while True:
        consumed.clear()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            first, *rest = consumed
            yield _Record(first[0], None, first[1], f"broken CSV record ({exc})")
            replay.extendleft(reversed(rest))
            reader = csv.reader(feed(), delimiter=delimiter, strict=True)
            continue
        if not fields:
            continue  # a blank line holds no record
        width = len(fields) if width is None else width
        if len(fields) != width and len(consumed) > 1:
            # A stray quote joined lines into one record: keep the first line as the
            # broken one and read the others again.
            first, *rest = consumed
            yield _Record(first[0], None, first[1], "broken CSV record (unbalanced quote)")
            replay.extendleft(reversed(rest))
            reader = csv.reader(feed(), delimiter=delimiter, strict=True)
            continue
        yield _Record(consumed[0][0], fields, "".join(item[1] for item in consumed))


def _bounded_lines(handle: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Numbered lines (with their newline); None for a line over `max_bytes`, skipped unread."""
    number = 0
    while True:
        line = handle.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while (more := handle.readline(1 << 20)) and not more.endswith(b"\n"):
                pass
            yield number, None
        else:
            yield number, line
