"""The window-vector cache of MiniLM hierarchical models: computed once, reused by every run.

For every window (doclstm.models.cuts.chunk_windows) of every document in the
token shards' train, val and test splits, the MiniLM vector
(doclstm/models/window_encoder.py), keyed by the digest of the window's ids.
Output (`data/windows/`): `part-NNNNN.parquet` shards of `key`
(binary(16)) and `vector` (fixed_size_list<float32, 384>) with
`manifest.json`, as the tokenize stage writes its shards: sha256 and rows
of every shard, and a fingerprint of the token shards, the window settings
and the MiniLM weights. The train stage calls `window_cache` before
training; when the fingerprint matches, the vectors are read back (each
shard's checksum verified) and MiniLM does not run at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from doclstm.config.workspace import TokenCaches
from doclstm.models.config import ModelConfig
from doclstm.models.cuts import chunk_windows
from doclstm.models.window_encoder import DIM, MiniLMWindows, minilm_identity
from doclstm.storage.atomic import atomic_dir
from doclstm.storage.manifest import StageManifest, file_entry, fresh_manifest, stage_fingerprint
from doclstm.storage.tables import iter_verified_batches, part_name, write_table
from doclstm.storage.token_data import has_split, load_split
from doclstm.text.batching import pad_batch

log = logging.getLogger(__name__)
SCHEMA = pa.schema([("key", pa.binary(16)), ("vector", pa.list_(pa.float32(), DIM))])
ROWS_PER_SHARD = 50_000
DOCS_PER_STEP = 256


@dataclass(frozen=True)
class WindowCache:
    out_dir: Path
    windows: int
    computed: int  # windows MiniLM ran on in this call (0 when the cache was reused)
    cached: bool


def window_cache(
    tokens_dir: Path,
    config: ModelConfig,
    encoder: MiniLMWindows,
    device: torch.device,
    out_dir: Path | None = None,
) -> WindowCache:
    """Fill `encoder.cache` with every window vector of the token shards, from `out_dir`
    when it is current, else by running MiniLM once and writing `out_dir` (default:
    `data/windows/` beside the token shards)."""
    out_dir = out_dir or TokenCaches(tokens_dir).windows
    upstream = StageManifest.load(tokens_dir)
    fingerprint = stage_fingerprint(
        "windows",
        __name__,
        {"chunk_tokens": config.chunk_tokens, "chunk_stride": config.chunk_stride},
        input=upstream.fingerprint,
        encoder=minilm_identity(),
    )
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:
        for batch in iter_verified_batches(out_dir, cached):
            keys = batch["key"].to_pylist()
            vectors = batch["vector"].values.to_numpy().reshape(len(keys), DIM)
            encoder.add(keys, vectors)
        log.info("windows: %d cached window vectors from %s", len(encoder.cache), out_dir)
        return WindowCache(out_dir, cached.summary["windows"], 0, cached=True)

    before = encoder.encoded
    seen: set[bytes] = set()
    for split in ("train", "val", "test"):
        if not has_split(upstream, split):
            continue
        data = load_split(tokens_dir, split, upstream)
        for start in range(0, len(data), DOCS_PER_STEP):
            rows = range(start, min(start + DOCS_PER_STEP, len(data)))
            ids, lengths = pad_batch([data.sequence(i) for i in rows])
            windows, window_lengths, _ = chunk_windows(
                ids, lengths, config.chunk_tokens, config.chunk_stride, 0, config.pad_id
            )
            seen.update(encoder.ensure(windows, window_lengths, device))
    computed = encoder.encoded - before
    keys = sorted(seen)
    with atomic_dir(out_dir) as tmp:
        files = {}
        for shard, start in enumerate(range(0, len(keys), ROWS_PER_SHARD)):
            chunk = keys[start : start + ROWS_PER_SHARD]
            vectors = np.stack([encoder.cache[k] for k in chunk]).astype(np.float32)
            table = pa.table(
                {
                    "key": pa.array(chunk, pa.binary(16)),
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
                },
                schema=SCHEMA,
            )
            name = part_name(shard)
            write_table(table, tmp / name)
            files[name] = file_entry(tmp / name, rows=len(chunk))
        summary = {"windows": len(keys), "computed": computed, "device": str(device)}
        StageManifest("windows", fingerprint, files, summary).write(tmp)
    log.info("windows: MiniLM encoded %d windows, cached in %s", computed, out_dir)
    return WindowCache(out_dir, len(keys), computed, cached=False)
