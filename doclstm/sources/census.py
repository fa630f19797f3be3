"""Validate's first pass: what the whole ingested dataset holds, in polars.

The row-level suite (doclstm/sources/expectations.py) sees one batch of rows at a
time; what only the whole dataset can answer is asked here, as lazy queries over the
Parquet parts that polars' streaming engine runs together in one read:

- the rows whose doc_id appeared in an earlier row (by row number over all parts);
- the val and test rows whose text (sha256) is that of a labelled train row: leakage;
- the labelled train documents per label, which become the label set (a document
  with several labels counts for each);
- the documents whose labels come as a list (several labels, or "no label"), the
  first of those with several, and per split the labels a labelled document has;
- per split, the documents, the labelled ones, the count per label, and the text
  length in characters (min, quantiles, mean, max);
- the rows that repeat the text (sha256) of an earlier row.

Memory grows slowly with the archive: the queries read only the columns they need,
a batch of rows at a time, and what they hold for the whole dataset is small: for
the counts and length statistics, one narrow row a document (split, label, length
in characters); for repeated ids, a 64-bit hash of each distinct doc_id, after which
the exact ids are compared among the few rows whose hash is shared (and so for
repeated texts, by their sha256); for leakage, the set of train sha256 values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from doclstm.sources.splits import SPLITS

QUANTILE_NAMES = {0.05: "p05", 0.5: "p50", 0.95: "p95"}
DUPLICATE_ID = "duplicate doc_id"
_ROW = "row"
_SEED = 0x5EED  # any fixed seed: the hashes live only within one query


@dataclass(frozen=True)
class Census:
    rows: int
    train_labels: dict[str, int]  # labelled train documents per label, before any check
    flagged: dict[int, str]  # row number over all parts -> why the whole dataset rejects it
    repeated_texts: frozenset[int]  # row numbers of rows whose text an earlier row has
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    listed: int = 0  # documents whose labels come as a list (the `labels` column)
    several: int = 0  # documents with more than one label
    first_several: str | None = None  # the doc_id of the first of them

    def summary(self) -> dict[str, Any]:
        """The census as validate's summary.json states it (the counts are of rows the
        census flags; the summary's reasons say which the suite had rejected first)."""
        repeated = sum(why == DUPLICATE_ID for why in self.flagged.values())
        return {
            "repeated_ids": repeated,
            "leaked_texts": len(self.flagged) - repeated,
            "duplicate_texts": len(self.repeated_texts),
            "splits": self.splits,
        }


def take_census(parts: list[Path]) -> Census:
    """The census of the dataset in `parts` (verified Parquet files of the ingested schema)."""
    frame = pl.scan_parquet(parts).with_row_index(_ROW)
    queries = [
        _shared_hashes(frame, "doc_id"),
        _leaks(frame),
        _shared_hashes(frame.drop_nulls("sha256"), "sha256"),
        # one narrow row a document; the texts are read a batch at a time
        frame.select(
            "split",
            "label",
            "labels",
            pl.col("text").str.len_chars().alias("chars"),
            _label_count().alias("label_count"),
        ),
        frame.filter(pl.col("labels").list.len() > 1).select("doc_id").head(1),
    ]
    repeated, leaks, texts, narrow, several = pl.collect_all(queries, engine="streaming")
    flagged = {
        row: f"leakage: same text as a train document (sha256 {sha[:12]})"
        for row, sha in leaks.iter_rows()
    }
    if len(repeated):  # the exact ids, among the rows whose id hash is shared
        flagged |= dict.fromkeys(_repeats(frame, "doc_id", repeated["key"]), DUPLICATE_ID)
    repeated_texts = _repeats(frame, "sha256", texts["key"]) if len(texts) else []
    classes = _classes(narrow)
    listed = int(narrow["labels"].is_not_null().sum())
    stats = _split_stats(narrow)
    return Census(
        rows=int(stats["documents"].sum()),
        train_labels=classes.get("train", {}),
        flagged=dict(sorted(flagged.items())),
        repeated_texts=frozenset(repeated_texts),
        splits=_split_summary(stats, classes, per_document=listed > 0),
        listed=listed,
        several=int((narrow["label_count"] > 1).sum()),
        first_several=several["doc_id"][0] if len(several) else None,
    )


def _labelled() -> pl.Expr:
    return pl.col("label").is_not_null() | pl.col("labels").is_not_null()


def _label_count() -> pl.Expr:
    """Labels a document has: 1 for `label`, the list's length for `labels`, else null."""
    return (
        pl.when(pl.col("label").is_not_null())
        .then(pl.lit(1, pl.UInt32))
        .otherwise(pl.col("labels").list.len())
    )


def _classes(narrow: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per split, the labelled documents per label; one with several counts for each."""
    single = narrow.select("split", "label").drop_nulls("label")
    listed = narrow.select("split", pl.col("labels").alias("label")).explode("label")
    counts = pl.concat([single, listed.drop_nulls("label")]).group_by("split", "label").len()
    classes: dict[str, dict[str, int]] = {}
    for split, label, n in counts.sort("split", "label").iter_rows():
        classes.setdefault(split, {})[label] = n
    return classes


def _leaks(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Val and test rows with the text of a labelled train row: (row, sha256)."""
    train = (
        frame.filter((pl.col("split") == "train") & _labelled() & pl.col("sha256").is_not_null())
        .select("sha256")
        .unique()
    )
    return (
        frame.filter(pl.col("split").is_in(["val", "test"]) & pl.col("sha256").is_not_null())
        .select(_ROW, "sha256")
        .join(train, on="sha256", how="semi")
    )


def _shared_hashes(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """The 64-bit hashes of `column` that more than one row has."""
    return (
        frame.group_by(pl.col(column).hash(_SEED).alias("key"))
        .len()
        .filter(pl.col("len") > 1)
        .select("key")
    )


def _repeats(frame: pl.LazyFrame, column: str, keys: pl.Series) -> list[int]:
    """Rows whose `column` an earlier row has; only rows with a shared hash are read."""
    candidates = (
        frame.filter(pl.col(column).hash(_SEED).is_in(keys.implode()))
        .select(_ROW, column)
        .collect(engine="streaming")
        .sort(_ROW)
    )
    return candidates.filter(~pl.col(column).is_first_distinct())[_ROW].to_list()


def _split_stats(narrow: pl.DataFrame) -> pl.DataFrame:
    chars = pl.col("chars")
    return narrow.group_by(pl.col("split").cast(pl.String)).agg(
        pl.len().alias("documents"),
        pl.col("label_count").is_not_null().sum().alias("labelled"),
        pl.col("label_count").mean().alias("labels_mean"),
        pl.col("label_count").max().alias("labels_max"),
        chars.min().alias("min"),
        *(
            chars.quantile(q, "nearest").cast(pl.Int64).alias(name)
            for q, name in QUANTILE_NAMES.items()
        ),
        chars.mean().alias("mean"),
        chars.max().alias("max"),
    )


def _split_summary(
    stats: pl.DataFrame, classes: dict[str, dict[str, int]], per_document: bool
) -> dict[str, dict[str, Any]]:
    """Per split, train, val and test first: documents, labelled, per label, text chars,
    and where labels come as lists, the labels a labelled document has (mean, max)."""
    order = {name: i for i, name in enumerate(SPLITS)}
    rows = sorted(stats.iter_rows(named=True), key=lambda r: (order.get(r["split"], 9), r["split"]))
    lengths = ("min", *QUANTILE_NAMES.values(), "mean", "max")
    return {
        row["split"]: {
            "documents": row["documents"],
            "labelled": row["labelled"],
            "classes": classes.get(row["split"], {}),
            "chars": {key: _number(row[key]) for key in lengths},
        }
        | (
            {"labels_per_document": _labels_per_document(row["labels_mean"], row["labels_max"])}
            if per_document
            else {}
        )
        for row in rows
    }


def _labels_per_document(mean: float | None, most: int | None) -> dict[str, Any]:
    return {"mean": None if mean is None else round(mean, 3), "max": most}


def _number(value: float | int | None) -> float | int | None:
    return round(value, 1) if isinstance(value, float) else value
