"""One split of the token shards in memory, read through the verified manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from doclstm.errors import DoclstmError
from doclstm.manifest import StageManifest
from doclstm.tables import iter_verified_batches


@dataclass(frozen=True)
class TokenSplit:
    doc_ids: list[str]
    label_ids: np.ndarray  # int64, -1 where unlabelled
    sequences: list[np.ndarray]  # int32 token ids, one array a document

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(s) for s in self.sequences), dtype=np.int64, count=len(self))

    def __len__(self) -> int:
        return len(self.doc_ids)


def load_split(tokens_dir: Path, split: str, manifest: StageManifest | None = None) -> TokenSplit:
    """All rows of `split`, each shard's checksum verified before it is read."""
    manifest = manifest or StageManifest.load(tokens_dir)
    doc_ids: list[str] = []
    labels: list[np.ndarray] = []
    sequences: list[np.ndarray] = []
    for batch in iter_verified_batches(tokens_dir, manifest, prefix=f"{split}/"):
        doc_ids.extend(batch["doc_id"].to_pylist())
        labels.append(batch["label_id"].to_numpy().astype(np.int64))
        ids = batch["input_ids"]
        flat = ids.values.to_numpy()
        offsets = ids.offsets.to_numpy()
        sequences.extend(flat[offsets[i] : offsets[i + 1]] for i in range(len(ids)))
    if not doc_ids:
        raise DoclstmError(f"{tokens_dir}: no {split} shards; does the data have a {split} split?")
    return TokenSplit(doc_ids, np.concatenate(labels), sequences)
