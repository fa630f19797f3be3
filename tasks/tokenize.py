"""tokenize: train a subword tokenizer on train text and write token shards.

Output contract (`data/tokens/`): `<split>/part-NNNNN.parquet` with doc_id,
label_id, length (int32) and input_ids (list<int32>), rows sorted by length
within each shard, about `tokenize.shard_tokens` tokens a shard, zstd;
`tokenizer.json`, `labels.json` (label_id -> name) and `manifest.json`
(tokenizer sha256, params, source fingerprint, every shard's rows, tokens
and sha256, per-split length histogram and truncation counts).

Run: `doclstm stage tokenize`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from prefect import task

from doclstm.atomic import atomic_dir, write_json
from doclstm.fingerprint import sha256_file
from doclstm.histogram import length_histogram, merge_histograms
from doclstm.manifest import FileEntry, StageManifest, file_entry, fresh_manifest, stage_fingerprint
from doclstm.params import TokenizeParams
from doclstm.splits import SPLITS, UNLABELLED
from doclstm.tables import TOKENS, iter_verified_batches, part_name, write_table
from doclstm.tokenizer import encode_ids, train_tokenizer, truncate

log = logging.getLogger(__name__)
TOKENIZER_FILE, LABELS_FILE = "tokenizer.json", "labels.json"
NO_LABEL = -1


@dataclass(frozen=True)
class TokenizeResult:
    out_dir: Path
    shards: int
    documents: int
    tokens: int
    truncated: int
    cached: bool


def tokenize_corpus(params: TokenizeParams, validated_dir: Path, out_dir: Path) -> TokenizeResult:
    """Tokenize the validated documents into `out_dir`; skipped when nothing changed."""
    upstream = StageManifest.load(validated_dir)
    fingerprint = stage_fingerprint("tokenize", params, input=upstream.fingerprint)
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:
        log.info("tokenize: validated data and params unchanged, reusing %s", out_dir)
        return _result(out_dir, cached, cached=True)

    labels: list[str] = upstream.summary["labels"]

    def train_texts() -> Iterator[list[str]]:  # train split only: val/test never leak in
        for batch in iter_verified_batches(validated_dir, upstream, columns=["split", "text"]):
            yield batch.filter(pc.equal(batch["split"], "train"))["text"].to_pylist()

    tokenizer = train_tokenizer(train_texts, params)
    with atomic_dir(out_dir) as tmp:
        tokenizer.save(str(tmp / TOKENIZER_FILE))
        write_json(tmp / LABELS_FILE, labels)
        writers = {s: _ShardWriter(tmp, s, params) for s in (*SPLITS, UNLABELLED)}
        label_ids = {name: i for i, name in enumerate(labels)}
        for batch in iter_verified_batches(validated_dir, upstream):
            for start in range(0, batch.num_rows, params.encode_batch_docs):
                chunk = batch.slice(start, params.encode_batch_docs).to_pydict()
                ids = encode_ids(tokenizer, chunk["text"])
                for doc_id, label, split, seq in zip(
                    chunk["doc_id"], chunk["label"], chunk["split"], ids, strict=True
                ):
                    writers[split].add(doc_id, label_ids.get(label, NO_LABEL), seq)
        files: dict[str, FileEntry] = {
            TOKENIZER_FILE: file_entry(tmp / TOKENIZER_FILE),
            LABELS_FILE: file_entry(tmp / LABELS_FILE),
        }
        splits: dict[str, Any] = {}
        for split, writer in writers.items():
            writer.flush()
            if writer.stats["documents"]:
                files |= writer.files
                splits[split] = writer.stats
        summary = {
            "tokenizer_sha256": sha256_file(tmp / TOKENIZER_FILE),
            "vocab_size": tokenizer.get_vocab_size(),
            "labels": labels,
            "source_fingerprint": upstream.fingerprint,
            "params": params.model_dump(mode="json"),
            "splits": splits,
        }
        manifest = StageManifest("tokenize", fingerprint, files, summary)
        manifest.write(tmp)
    log.info("tokenize: %s", {s: (v["documents"], v["tokens"]) for s, v in splits.items()})
    return _result(out_dir, manifest, cached=False)


tokenize = task(name="tokenize", retries=0)(tokenize_corpus)


@dataclass
class _ShardWriter:
    """Accumulates one split's rows and writes a length-sorted shard per token budget."""

    root: Path
    split: str
    params: TokenizeParams
    rows: list[tuple[str, int, list[int]]] = field(default_factory=list)
    pending_tokens: int = 0
    files: dict[str, FileEntry] = field(default_factory=dict)
    stats: dict[str, Any] = field(
        default_factory=lambda: {
            "documents": 0,
            "tokens": 0,
            "truncated": 0,
            "tokens_cut": 0,
            "shards": 0,
            "length_histogram": {},
        }
    )

    def add(self, doc_id: str, label_id: int, full_ids: list[int]) -> None:
        ids = full_ids
        if len(full_ids) > self.params.max_tokens:
            ids = truncate(full_ids, self.params.max_tokens, self.params.truncation)
            self.stats["truncated"] += 1
            self.stats["tokens_cut"] += len(full_ids) - len(ids)
        self.rows.append((doc_id, label_id, ids))
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
                pa.array([r[1] for r in self.rows], pa.int32()),
                pa.array(lengths, pa.int32()),
                pa.array([r[2] for r in self.rows], pa.list_(pa.int32())),
            ],
            schema=TOKENS,
        )
        name = f"{self.split}/{part_name(self.stats['shards'])}"
        write_table(table, self.root / name, self.params.row_group_rows)
        self.files[name] = file_entry(self.root / name, len(self.rows))
        self.stats["documents"] += len(self.rows)
        self.stats["tokens"] += sum(lengths)
        self.stats["shards"] += 1
        self.stats["length_histogram"] = merge_histograms(
            self.stats["length_histogram"], length_histogram(lengths)
        )
        self.rows, self.pending_tokens = [], 0


def _result(out_dir: Path, manifest: StageManifest, cached: bool) -> TokenizeResult:
    splits = manifest.summary["splits"].values()
    return TokenizeResult(
        out_dir=out_dir,
        shards=sum(s["shards"] for s in splits),
        documents=sum(s["documents"] for s in splits),
        tokens=sum(s["tokens"] for s in splits),
        truncated=sum(s["truncated"] for s in splits),
        cached=cached,
    )
