"""Length histograms on fixed power-of-two edges, comparable across runs and splits."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np

EDGES = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]


def length_histogram(lengths: Iterable[int]) -> dict[str, int]:
    """Counts per bucket, keyed "lo-hi" (hi exclusive); the last bucket is open-ended."""
    values = np.fromiter(lengths, dtype=np.int64)
    counts = np.histogram(values, bins=[*EDGES, np.iinfo(np.int64).max])[0]
    keys = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(EDGES)]
    keys.append(f"{EDGES[-1]}+")
    return {key: int(c) for key, c in zip(keys, counts, strict=True)}


def merge_histograms(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {key: a.get(key, 0) + b.get(key, 0) for key in a.keys() | b.keys()}
