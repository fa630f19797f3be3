"""What a scored folder holds, asked of its shards in polars: `doclstm inspect scores`.

One model version's output folder (`<score.output>/<model>/<version>/`) is read as
one dataset, its complete shards only (each with a marker that verifies,
doclstm/scoring/shard_markers.py, written by this doclstm's scoring code: a shard
scored by other code may have other columns, and the next score run writes it again), in one
streaming pass over the columns needed:
the documents, scored and unscored (each reason counted), the predicted labels (with
several labels a document, each label's share of the documents that have it), the
confidence of the predictions (the top probability, or the probability of the predicted
list: quantiles and the share under `score.drift.confidence`), the tokens read
(quantiles), the long documents (read in windows, cut, or read whole), and when they
were scored. The folder's drift verdict
comes from `_drift/drift.json` when the run wrote one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from doclstm.scoring.drift import DRIFT_DIR, DRIFT_JSON
from doclstm.scoring.prediction_columns import CONFIDENCE, PREDICTED
from doclstm.scoring.shard_markers import MARKERS, completed, scoring_code
from doclstm.storage.tables import PART_GLOB

QUANTILES = (0.05, 0.5, 0.95)


def scored_folders(root: Path) -> list[Path]:
    """`root` itself when it holds scored shards, else every folder below it that does."""
    if (root / MARKERS).is_dir():
        return [root]
    return sorted(marker.parent for marker in root.rglob(MARKERS) if marker.is_dir())


def summarize_scores(folder: Path, confidence: float) -> dict[str, Any]:
    """The summary of one scored folder; `confidence` is the unsure threshold."""
    shards = sorted(folder.glob(PART_GLOB))
    records = {shard: completed(shard) for shard in shards}
    code = scoring_code()
    done = [s for s, r in records.items() if r and r.get("code") == code]
    older = [s for s, r in records.items() if r and r.get("code") != code]
    summary: dict[str, Any] = {
        "folder": str(folder),
        "shards": len(done),
        "shards_incomplete": len(shards) - len(done) - len(older),
        "shards_older": len(older),  # by an earlier doclstm, in other columns: not read
    }
    if not done:
        return summary | {"documents": 0}
    frame = pl.scan_parquet(done)
    multi = isinstance(frame.collect_schema()[PREDICTED], pl.List)
    scored = frame.filter(pl.col(PREDICTED).is_not_null())
    # several labels a document: a document counts for each label it was given
    predicted = scored.select(pl.col(PREDICTED).explode()) if multi else scored
    top = pl.col(CONFIDENCE)
    queries = [
        frame.select(
            pl.len().alias("documents"),
            pl.col(PREDICTED).is_not_null().sum().alias("scored"),
            pl.col("scored_at").min().alias("first"),
            pl.col("scored_at").max().alias("last"),
            pl.col("model_name").unique().sort().implode().alias("models"),
            pl.col("model_version").unique().sort().implode().alias("versions"),
        ),
        scored.select(
            *(top.quantile(q, "linear").alias(f"confidence {q}") for q in QUANTILES),
            (top < confidence).sum().alias("unsure"),
            *(
                pl.col("tokens").quantile(q, "nearest").cast(pl.Int64).alias(f"tokens {q}")
                for q in QUANTILES
            ),
        ),
        predicted.group_by(PREDICTED).len().sort("len", PREDICTED, descending=[True, False]),
        frame.filter(pl.col(PREDICTED).is_null()).group_by("reason").len().sort("len", "reason"),
        frame.drop_nulls("long_document").group_by("long_document").len().sort("long_document"),
    ]
    totals, spread, labels, reasons, long = pl.collect_all(queries, engine="streaming")
    counts = totals.row(0, named=True)
    spreads = spread.row(0, named=True)
    n = int(counts["scored"])
    return summary | {
        "documents": int(counts["documents"]),
        "scored": n,
        "multi_label": multi,
        "unscored": dict(reasons.iter_rows()),
        "models": counts["models"],
        "versions": counts["versions"],
        "scored_at": [t.isoformat(timespec="seconds") for t in (counts["first"], counts["last"])],
        "predicted": {
            label: {"documents": k, "share": round(k / n, 4)} for label, k in labels.iter_rows()
        },
        "confidence": {str(q): _round(spreads[f"confidence {q}"]) for q in QUANTILES},
        "unsure": {"threshold": confidence, "documents": int(spreads["unsure"] or 0)},
        "tokens": {str(q): spreads[f"tokens {q}"] for q in QUANTILES},
        "long_documents": dict(long.iter_rows()),
        "drift": _drift(folder),
    }


def _drift(folder: Path) -> dict[str, Any] | None:
    report = folder / DRIFT_DIR / DRIFT_JSON
    if not report.is_file():
        return None
    found = json.loads(report.read_text(encoding="utf-8"))
    return {"drifted": found["drifted"], "alerts": found["alerts"], "report": str(report)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
