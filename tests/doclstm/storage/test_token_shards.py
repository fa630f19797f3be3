"""Property tests of the token shard writer: every row once, ids intact, shards sorted
by length and cut by the token budget."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.config.params import TokenizeParams
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import load_split
from doclstm.text.token_shards import ShardWriter

documents = st.lists(
    st.lists(st.integers(min_value=0, max_value=2**31 - 1), min_size=0, max_size=40),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(sequences=documents, shard_tokens=st.integers(1, 200), max_tokens=st.integers(1, 50))
def test_shards_keep_every_row_once_sorted_within_the_budget(
    sequences: list[list[int]], shard_tokens: int, max_tokens: int
) -> None:
    params = TokenizeParams(  # head: the kept tokens are a prefix (truncation: test_tokenize)
        shard_tokens=shard_tokens, max_tokens=max_tokens, row_group_rows=7, truncation="head"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        writer = ShardWriter(root, "train", params)
        for i, ids in enumerate(sequences):
            writer.add(f"doc-{i:03d}", i % 3, ids)
        writer.flush()
        StageManifest("tokenize", "fp", writer.files).write(root)
        split = load_split(root, "train")
        assert sorted(split.doc_ids) == [f"doc-{i:03d}" for i in range(len(sequences))]
        for doc_id, label, seq in zip(split.doc_ids, split.label_ids, split.sequences, strict=True):
            i = int(doc_id.removeprefix("doc-"))
            assert seq.tolist() == sequences[i][:max_tokens]
            assert label == i % 3
        for name in writer.files:
            lengths = pq.read_table(root / name)["length"].to_pylist()
            assert lengths == sorted(lengths)
            # A shard closes as soon as it reaches the budget: all but its last row fit under it.
            assert sum(lengths) - lengths[-1] < shard_tokens or len(lengths) == 1
        stats = writer.stats
        assert stats["documents"] == len(sequences)
        assert stats["truncated"] == sum(len(s) > max_tokens for s in sequences)
