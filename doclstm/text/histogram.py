"""Length histograms on fixed power-of-two edges, comparable across runs and splits.

`length_histogram` counts lengths in hand (tokenize counts each shard as it writes
it; scoring, each scored shard); `shard_lengths` asks token shards on disk, in polars'
streaming engine, for the histograms of the lengths before and after the cut at
`tokenize.max_tokens`, and their quantiles, in one read of two int32 columns.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

EDGES = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
BUCKETS = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(EDGES)] + [f"{EDGES[-1]}+"]
QUANTILES = (0.5, 0.95, 0.99)
COLUMNS = {"full": "full_length", "stored": "length"}  # before the cut, as stored


def length_histogram(lengths: Iterable[int]) -> dict[str, int]:
    """Counts per bucket, keyed "lo-hi" (hi exclusive); the last bucket is open-ended."""
    values = np.fromiter(lengths, dtype=np.int64)
    counts = np.histogram(values, bins=[*EDGES, np.iinfo(np.int64).max])[0]
    return {key: int(c) for key, c in zip(BUCKETS, counts, strict=True)}


def merge_histograms(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {key: a.get(key, 0) + b.get(key, 0) for key in a.keys() | b.keys()}


def shard_lengths(files: list[Path]) -> dict[str, Any]:
    """Of the token shards `files`: per kind ("full", "stored") the histogram and the
    quantiles of the lengths, and how many documents the cut shortened."""
    frame = pl.scan_parquet(files).select(COLUMNS.values())
    counts = [
        frame.group_by(
            pl.col(column).cut(EDGES[1:], labels=BUCKETS, left_closed=True).alias("bucket")
        ).len()
        for column in COLUMNS.values()
    ]
    stats = frame.select(
        *(
            pl.col(column).quantile(q, "nearest").alias(f"{kind}:{q}")
            for kind, column in COLUMNS.items()
            for q in QUANTILES
        ),
        (pl.col("full_length") > pl.col("length")).sum().alias("cut"),
    )
    *histograms, totals = pl.collect_all([*counts, stats], engine="streaming")
    row = totals.row(0, named=True)
    found: dict[str, Any] = {"cut": int(row["cut"] or 0)}
    for kind, histogram in zip(COLUMNS, histograms, strict=True):
        counted = dict(zip(histogram["bucket"].cast(pl.String), histogram["len"], strict=True))
        found[kind] = {
            "histogram": {key: int(counted.get(key, 0)) for key in BUCKETS},
            "quantiles": {str(q): int(row[f"{kind}:{q}"] or 0) for q in QUANTILES},
        }
    return found
