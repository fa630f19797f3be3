"""One split's token shards as tokenize writes them: length-sorted, about
`tokenize.shard_tokens` tokens each, with the split's statistics.

Each document is cut to `tokenize.max_tokens` by the truncation policy (and
counted when it is over, under every policy); a shard's rows are sorted by
length, then doc_id. The label column is a label id (`TOKENS`) or, for a
multi-label dataset, a list of them (`TOKENS_MULTI`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from doclstm.config.params import TokenizeParams
from doclstm.storage.manifest import FileEntry, file_entry
from doclstm.storage.tables import TOKENS, part_name, write_table
from doclstm.text.histogram import length_histogram, merge_histograms
from doclstm.text.tokenizer import truncate


@dataclass
class ShardWriter:
    """Accumulates one split's rows and writes a length-sorted shard per token budget."""

    root: Path
    split: str
    params: TokenizeParams
    schema: pa.Schema = TOKENS  # TOKENS_MULTI: a list of label ids a document
    only: set[str] | None = None  # repair: write just these shards, count them all
    rows: list[tuple[str, int | list[int] | None, list[int], int]] = field(default_factory=list)
    pending_tokens: int = 0
    files: dict[str, FileEntry] = field(default_factory=dict)
    stats: dict[str, Any] = field(
        default_factory=lambda: {
            "documents": 0,
            "tokens": 0,
            "over_max_tokens": 0,
            "truncated": 0,
            "tokens_cut": 0,
            "shards": 0,
            "length_histogram": {},
        }
    )

    def add(self, doc_id: str, label_id: int | list[int] | None, full_ids: list[int]) -> None:
        ids = full_ids
        if len(full_ids) > self.params.max_tokens:
            self.stats["over_max_tokens"] += 1  # counted under every policy, `none` included
            ids = truncate(full_ids, self.params.max_tokens, self.params.truncation)
            if len(ids) < len(full_ids):
                self.stats["truncated"] += 1
                self.stats["tokens_cut"] += len(full_ids) - len(ids)
        self.rows.append((doc_id, label_id, ids, len(full_ids)))
        self.pending_tokens += len(ids)
        if self.pending_tokens >= self.params.shard_tokens:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        self.rows.sort(key=lambda r: (len(r[2]), r[0]))
        lengths = [len(r[2]) for r in self.rows]
        table = pa.Table.from_arrays(
            [
                pa.array([r[0] for r in self.rows], pa.string()),
                pa.array([r[1] for r in self.rows], self.schema.field(1).type),
                pa.array(lengths, pa.int32()),
                pa.array([r[2] for r in self.rows], pa.list_(pa.int32())),
                pa.array([r[3] for r in self.rows], pa.int32()),
            ],
            schema=self.schema,
        )
        name = f"{self.split}/{part_name(self.stats['shards'])}"
        if self.only is None or name in self.only:
            write_table(table, self.root / name, self.params.row_group_rows)
            self.files[name] = file_entry(self.root / name, len(self.rows), sum(lengths))
        self.stats["documents"] += len(self.rows)
        self.stats["tokens"] += sum(lengths)
        self.stats["shards"] += 1
        self.stats["length_histogram"] = merge_histograms(
            self.stats["length_histogram"], length_histogram(lengths)
        )
        self.rows, self.pending_tokens = [], 0
