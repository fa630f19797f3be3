"""The training-data profile, computed by polars over the shards, against the same numbers
counted by hand from the split loaded into memory."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from doclstm.storage.manifest import StageManifest, file_entry
from doclstm.storage.tables import TOKENS, write_table
from doclstm.storage.token_data import PROFILE_FILE, load_split
from doclstm.text.histogram import length_histogram
from doclstm.text.profile import QUANTILES, TOP_TOKENS, split_profile
from doclstm.text.tokenizer import UNK_ID, load_tokenizer


def test_a_profile_of_five_documents_by_hand(built_workspace: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(built_workspace / "data/tokens/tokenizer.json")
    ids = [[UNK_ID], [5, UNK_ID], [5, 6, 7], [5, 5, 5, UNK_ID], [8] * 10]
    shard = pa.table(
        {
            "doc_id": [f"d{i}" for i in range(5)],
            "label_id": pa.array([0, 1, 0, 0, 1], pa.int32()),
            "length": pa.array([len(x) for x in ids], pa.int32()),
            "input_ids": pa.array(ids, pa.list_(pa.int32())),
            "full_length": pa.array([len(x) for x in ids], pa.int32()),
        },
        schema=TOKENS,
    )
    write_table(shard, tmp_path / "train/part-00000.parquet")
    counted = {"truncated": 1, "length_histogram": length_histogram(len(x) for x in ids)}
    summary = {"labels": ["a", "b"], "splits": {"train": counted}}  # as tokenize writes it
    files = {"train/part-00000.parquet": file_entry(tmp_path / "train/part-00000.parquet")}
    profile = split_profile(
        tmp_path, "train", StageManifest("tokenize", "f", files, summary), tokenizer
    )
    assert (profile["documents"], profile["tokens"]) == (5, 20)
    # lengths 1, 2, 3, 4, 10: the nearest rank of each quantile
    assert profile["length_quantiles"] == {"0.05": 1, "0.25": 2, "0.5": 3, "0.75": 4, "0.95": 10}
    assert profile["length_histogram"]["0-16"] == 5
    assert profile["unknown_token_share"] == 3 / 20
    assert profile["label_shares"] == {"a": 3 / 5, "b": 2 / 5}
    assert profile["truncated_share"] == 1 / 5
    top = [[tokenizer.id_to_token(i), n / 20] for i, n in ((8, 10), (5, 5), (1, 3), (6, 1), (7, 1))]
    assert profile["top_tokens"] == top


def test_the_train_profile_counts_what_the_split_holds(built_workspace: Path) -> None:
    tokens = built_workspace / "data/tokens"
    manifest = StageManifest.load(tokens)
    tokenizer = load_tokenizer(tokens / "tokenizer.json")
    split = load_split(tokens, "train", manifest)
    profile = split_profile(tokens, "train", manifest, tokenizer)

    lengths = np.sort(split.lengths)
    ids = np.concatenate(split.sequences)
    assert profile["documents"] == len(split) and profile["tokens"] == int(lengths.sum())
    for q in QUANTILES:  # "nearest" rank, as polars computes it
        assert profile["length_quantiles"][str(q)] == int(np.quantile(lengths, q, method="nearest"))
    assert sum(profile["length_histogram"].values()) == len(split)
    assert profile["unknown_token_share"] == float((ids == UNK_ID).sum() / len(ids))
    labels = manifest.summary["labels"]
    by_label = Counter(int(i) for i in split.label_ids)
    assert profile["label_shares"] == {
        name: by_label[i] / len(split) for i, name in enumerate(labels)
    }
    assert (
        sum(profile["label_shares"].values()) == 1.0
        or abs(sum(profile["label_shares"].values()) - 1) < 1e-12
    )
    truncated = manifest.summary["splits"]["train"]["truncated"]
    assert profile["truncated_share"] == truncated / len(split) and truncated > 0
    counts = Counter(ids.tolist())
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TOKENS]
    assert profile["top_tokens"] == [[tokenizer.id_to_token(i), n / len(ids)] for i, n in expected]


def test_the_model_folder_keeps_the_profile_it_was_trained_on(built_workspace: Path) -> None:
    model = built_workspace / "models/main"
    manifest = StageManifest.load(model)
    assert PROFILE_FILE in manifest.files  # checked with the folder wherever it is read
    profile = json.loads((model / PROFILE_FILE).read_text())
    tokens = built_workspace / "data/tokens"
    tokens_manifest = StageManifest.load(tokens)
    tokenizer = load_tokenizer(tokens / "tokenizer.json")
    assert profile == split_profile(tokens, "train", tokens_manifest, tokenizer)
