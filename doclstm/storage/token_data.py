"""One split of the token shards in memory, read through the verified manifest.

The ids of a split sit in one flat int32 array with int64 offsets, not one
array per document: handing the split to a DataLoader worker then pickles
two buffers instead of a million small arrays, and memory holds no
per-document Python objects. The `length` column, checked against the ids,
is all the batch sampler is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from doclstm.errors import DoclstmError
from doclstm.storage.manifest import StageManifest
from doclstm.storage.tables import data_parts, iter_verified_batches

LABELS_FILE = "labels.json"  # label id -> name: in a tokens folder and in a model folder
PROFILE_FILE = "profile.json"  # a model folder's profile of its training split (text/profile.py)


@dataclass(frozen=True)
class TokenSplit:
    doc_ids: list[str]
    # int64, -1 where unlabelled; several labels a document (a multi-label dataset): float32
    # documents x labels, 1 where the document has the label (-1 rows: unlabelled)
    label_ids: np.ndarray
    tokens: np.ndarray  # int32, every document's ids back to back
    offsets: np.ndarray  # int64, len(doc_ids) + 1; document i is tokens[offsets[i]:offsets[i+1]]
    # A transfer set's (doclstm/training/transfer_set.py): the teacher's logits per document.
    teacher_logits: np.ndarray | None = None

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def multi_label(self) -> bool:
        return self.label_ids.ndim == 2

    def sequence(self, index: int) -> np.ndarray:
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]

    @property
    def sequences(self) -> list[np.ndarray]:
        return [self.sequence(i) for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.doc_ids)

    def subset(self, rows: np.ndarray) -> TokenSplit:
        """The documents at `rows`, in that order."""
        tokens = np.concatenate([self.sequence(int(i)) for i in rows] or [self.tokens[:0]])
        return TokenSplit(
            [self.doc_ids[i] for i in rows],
            self.label_ids[rows],
            tokens,
            offsets_of(self.lengths[rows]),
            None if self.teacher_logits is None else self.teacher_logits[rows],
        )


def concat_splits(parts: list[TokenSplit]) -> TokenSplit:
    """The documents of every part, one after the other (teacher logits only when every
    part has them)."""
    logits = [p.teacher_logits for p in parts]
    return TokenSplit(
        [d for p in parts for d in p.doc_ids],
        np.concatenate([p.label_ids for p in parts]),
        np.concatenate([p.tokens[p.offsets[0] : p.offsets[-1]] for p in parts]),
        offsets_of(np.concatenate([p.lengths for p in parts])),
        None if any(x is None for x in logits) else np.concatenate(logits),  # type: ignore[arg-type]
    )


def has_split(manifest: StageManifest, split: str) -> bool:
    return any(name.startswith(f"{split}/") for name in manifest.files)


def load_split(tokens_dir: Path, split: str, manifest: StageManifest | None = None) -> TokenSplit:
    """All rows of `split`, each shard's checksum verified before it is read."""
    manifest = manifest or StageManifest.load(tokens_dir)
    batches = iter_verified_batches(tokens_dir, manifest, prefix=f"{split}/")
    multi = manifest.summary.get("task") == "multi"
    n_labels = len(manifest.summary["labels"]) if multi else None
    loaded = split_of_batches(batches, f"{tokens_dir}/{split}", n_labels=n_labels)
    if not loaded.doc_ids:
        raise DoclstmError(f"{tokens_dir}: no {split} shards; does the data have a {split} split?")
    return loaded


def split_of_batches(
    batches: Iterable[pa.RecordBatch],
    where: str,
    teacher_logits: bool = False,
    n_labels: int | None = None,
) -> TokenSplit:
    """The rows of token batches (doc_id, label_id, length, input_ids; with
    `teacher_logits`, that list column too) as one split; empty when there are none.
    With `n_labels`, the batches are a multi-label dataset's (label_ids, a list)."""
    doc_ids: list[str] = []
    labels: list[np.ndarray] = [
        np.zeros(0, np.int64) if n_labels is None else np.zeros((0, n_labels), np.float32)
    ]
    chunks: list[np.ndarray] = [np.zeros(0, dtype=np.int32)]
    lengths: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    logits: list[np.ndarray] = []
    for batch in batches:
        doc_ids.extend(batch["doc_id"].to_pylist())
        if n_labels is None:
            labels.append(batch["label_id"].to_numpy().astype(np.int64))
        else:
            labels.append(multi_hot(batch["label_ids"], n_labels))
        ids = batch["input_ids"]
        offsets = ids.offsets.to_numpy()
        chunks.append(ids.values.to_numpy()[offsets[0] : offsets[-1]].astype(np.int32))
        lengths.append(batch["length"].to_numpy().astype(np.int64))
        if not np.array_equal(lengths[-1], np.diff(offsets)):
            raise DoclstmError(f"{where}: a length column disagrees with input_ids")
        if teacher_logits:
            rows = batch["teacher_logits"]
            width = int(np.diff(rows.offsets.to_numpy())[0]) if len(rows) else 1
            logits.append(rows.values.to_numpy().astype(np.float32).reshape(-1, width))
    return TokenSplit(
        doc_ids,
        np.concatenate(labels),
        np.concatenate(chunks),
        offsets_of(np.concatenate(lengths)),
        np.concatenate(logits) if logits else None,
    )


def multi_hot(column: pa.ListArray, n_labels: int) -> np.ndarray:
    """float32 documents x labels, 1 where a document has the label; a null list (an
    unlabelled document) is a row of -1."""
    out = np.zeros((len(column), n_labels), dtype=np.float32)
    offsets = column.offsets.to_numpy()
    ids = column.values.to_numpy()
    rows = np.repeat(np.arange(len(column)), np.diff(offsets))
    out[rows, ids[offsets[0] : offsets[-1]]] = 1.0
    out[column.is_null().to_numpy(zero_copy_only=False)] = -1.0
    return out


def full_lengths(
    tokens_dir: Path, split: str, manifest: StageManifest, doc_ids: list[str]
) -> np.ndarray:
    """Each document's tokens before tokenize's cut, in the order `load_split` read
    `doc_ids` (of shards it verified), from the `full_length` column."""
    files = [tokens_dir / name for name in data_parts(manifest, f"{split}/")]
    frame = pl.scan_parquet(files).select("doc_id", "full_length").collect()
    if frame["doc_id"].to_list() != doc_ids:
        raise DoclstmError(f"{tokens_dir}/{split}: the shards changed while they were read")
    return frame["full_length"].to_numpy().astype(np.int64)


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """int64 offsets (len(lengths) + 1) of documents of `lengths` stored back to back."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets
