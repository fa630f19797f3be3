"""Streaming Parquet writers: rows in, row groups out, memory bounded by one row group.

`TableWriter` writes one file under a temporary name and renames it into
place on `close()` (and deletes it if the block fails). `PartedWriter` cuts
a stream into `part-NNNNN.parquet` files of at most `rows_per_part` rows.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from doclstm.storage.atomic import clear_leftovers
from doclstm.storage.tables import part_name


class TableWriter:
    def __init__(self, dest: Path, schema: pa.Schema, row_group_rows: int) -> None:
        self.dest = dest
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.rows = 0
        self._columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        dest.parent.mkdir(parents=True, exist_ok=True)
        clear_leftovers(dest)
        self._tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")

    def add(self, row: dict[str, Any]) -> None:
        for name, values in self._columns.items():
            values.append(row[name])
        self.rows += 1
        if len(self._columns[self.schema.names[0]]) >= self.row_group_rows:
            self._flush()

    def close(self) -> Path:
        """Write what is buffered and move the file into place."""
        self._flush()
        self._writer.close()
        self._tmp.replace(self.dest)
        return self.dest

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _flush(self) -> None:
        if self._columns[self.schema.names[0]]:
            self._writer.write_table(pa.table(self._columns, schema=self.schema))
            self._columns = {name: [] for name in self.schema.names}


class PartedWriter:
    """`part-00000.parquet`, `part-00001.parquet`, ... in `out_dir`; always at least one."""

    def __init__(
        self, out_dir: Path, schema: pa.Schema, rows_per_part: int, row_group_rows: int
    ) -> None:
        self.out_dir = out_dir
        self.schema = schema
        self.rows_per_part = rows_per_part
        self.row_group_rows = row_group_rows
        self.parts: dict[str, int] = {}  # file name -> rows
        self._current: TableWriter | None = None

    def add(self, row: dict[str, Any]) -> None:
        if self._current is None:
            self._current = self._open()
        self._current.add(row)
        if self._current.rows >= self.rows_per_part:
            self._close_current()

    def close(self) -> dict[str, int]:
        if self._current is None and not self.parts:
            self._current = self._open()  # an empty part keeps the schema readable
        self._close_current()
        return self.parts

    def abort(self) -> None:
        if self._current is not None:
            self._current.abort()
            self._current = None

    def _open(self) -> TableWriter:
        dest = self.out_dir / part_name(len(self.parts))
        return TableWriter(dest, self.schema, min(self.row_group_rows, self.rows_per_part))

    def _close_current(self) -> None:
        if self._current is not None:
            self.parts[self._current.close().name] = self._current.rows
            self._current = None
