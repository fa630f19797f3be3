"""The polars length histograms of token shards against the hand count."""

from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.storage.tables import TOKENS, write_table
from doclstm.text.histogram import BUCKETS, QUANTILES, length_histogram, shard_lengths


def _shard(path: Path, full: list[int], cap: int) -> Path:
    stored = [min(n, cap) for n in full]
    table = pa.table(
        {
            "doc_id": [f"d{i}" for i in range(len(full))],
            "label_id": pa.array([0] * len(full), pa.int32()),
            "length": pa.array(stored, pa.int32()),
            "input_ids": pa.array([[5] * n for n in stored], pa.list_(pa.int32())),
            "full_length": pa.array(full, pa.int32()),
        },
        schema=TOKENS,
    )
    return write_table(table, path)


def test_two_shards_by_hand(tmp_path: Path) -> None:
    files = [
        _shard(tmp_path / "part-00000.parquet", [3, 20, 500], cap=100),
        _shard(tmp_path / "part-00001.parquet", [20000, 100], cap=100),
    ]
    found = shard_lengths(files)
    assert found["cut"] == 2  # 500 and 20,000 tokens, kept to 100
    full = {k: v for k, v in found["full"]["histogram"].items() if v}
    assert full == {"0-16": 1, "16-32": 1, "64-128": 1, "256-512": 1, "16384+": 1}
    stored = {k: v for k, v in found["stored"]["histogram"].items() if v}
    assert stored == {"0-16": 1, "16-32": 1, "64-128": 3}
    assert list(found["full"]["histogram"]) == BUCKETS
    assert found["full"]["quantiles"]["0.5"] == 100 and found["stored"]["quantiles"]["0.99"] == 100


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 40_000), min_size=1, max_size=50), st.integers(1, 600))
def test_the_histograms_are_those_of_the_hand_count(
    tmp_path_factory, full: list[int], cap: int
) -> None:
    path = _shard(tmp_path_factory.mktemp("shard") / "part-00000.parquet", full, cap)
    found = shard_lengths([path])
    assert found["full"]["histogram"] == length_histogram(full)
    assert found["stored"]["histogram"] == length_histogram(min(n, cap) for n in full)
    assert found["cut"] == sum(n > cap for n in full)
    quantiles = [found["full"]["quantiles"][str(q)] for q in QUANTILES]
    assert all(q in full for q in quantiles) and quantiles == sorted(quantiles)
