"""The profile of a set of token sequences: what a model's documents looked like.

`split_profile` profiles one split of a tokens folder (the train stage keeps the train
split's as `profile.json` in the model folder); the scoring side builds the same profile
of the documents it scores, so the two compare (doclstm/scoring/drift.py). A profile
holds the document and token counts, length quantiles and the fixed power-of-two length
histogram (doclstm/text/histogram.py), the share of unknown tokens, the label
distribution, the share of documents cut at `tokenize.max_tokens`, and the most frequent
tokens. What tokenize already counted per split (the histogram, the documents cut) comes
from its manifest; the rest runs lazily over the Parquet shards in polars' streaming
engine, which holds no more than a batch of rows, and one length per document for the
exact quantiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from tokenizers import Tokenizer

from doclstm.storage.manifest import StageManifest
from doclstm.storage.tables import data_parts
from doclstm.text.histogram import BUCKETS, EDGES
from doclstm.text.tokenizer import UNK_ID

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP_TOKENS = 20


def split_profile(
    tokens_dir: Path, split: str, manifest: StageManifest, tokenizer: Tokenizer
) -> dict[str, Any]:
    """The profile of `split` in a tokens folder whose shards were verified (`load_split`)."""
    files = [tokens_dir / name for name in data_parts(manifest, f"{split}/")]
    frame = pl.scan_parquet(files)
    totals = (
        frame.select(
            pl.len().alias("documents"),
            pl.col("length").sum().alias("tokens"),
            pl.col("input_ids").list.count_matches(UNK_ID).sum().alias("unknown"),
            *(pl.col("length").quantile(q, "nearest").alias(str(q)) for q in QUANTILES),
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    labels: list[str] = manifest.summary["labels"]
    # several labels a document (label_ids, a list): a document counts for each label
    column = "label_ids" if manifest.summary.get("task") == "multi" else "label_id"
    ids = pl.col(column).explode() if column == "label_ids" else pl.col(column)
    counts = (
        frame.select(ids.alias("label_id")).group_by("label_id").len().collect(engine="streaming")
    )
    by_label = dict(zip(counts["label_id"].to_list(), counts["len"].to_list(), strict=True))
    top = (
        frame.select(pl.col("input_ids").explode().alias("id"))
        .group_by("id")
        .len()
        .sort(["len", "id"], descending=[True, False])
        .head(TOP_TOKENS)
        .collect(engine="streaming")
    )
    documents, tokens = int(totals["documents"]), int(totals["tokens"] or 0)
    counted = manifest.summary["splits"][split]  # by tokenize, as it wrote the shards
    histogram = {key: counted["length_histogram"].get(key, 0) for key in BUCKETS}
    return {
        "documents": documents,
        "tokens": tokens,
        "length_quantiles": {str(q): int(totals[str(q)] or 0) for q in QUANTILES},
        "length_histogram": histogram,
        "length_edges": EDGES,
        "unknown_token_share": _share(int(totals["unknown"] or 0), tokens),
        "label_shares": {
            name: _share(by_label.get(i, 0), documents) for i, name in enumerate(labels)
        },
        "truncated_share": _share(counted["truncated"], documents),
        "top_tokens": [
            [tokenizer.id_to_token(int(i)), _share(int(n), tokens)]
            for i, n in zip(top["id"].to_list(), top["len"].to_list(), strict=True)
        ],
    }


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
