"""The rows scoring writes: one per document, scored or with the reason it was not.

An output shard's schema (`output_schema`): doc_id, the prediction columns
(doclstm/scoring/prediction_columns.py: predicted, a label or with several labels a
document a list, confidence, prob_<label> a class, probabilities), model_name,
model_version, scored_at, reason, tokens, long_document. A staged input shard (`STAGED`)
keeps a document as its source gave it, bytes or text, or its refusal,
so any process can score it later.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from doclstm.scoring.drift import shard_counts
from doclstm.scoring.prediction_columns import (
    EMPTY_DOCUMENT,
    prediction_fields,
    prediction_rows,
    unscored_row,
)
from doclstm.scoring.predictor import TextPredictor
from doclstm.sources.documents import RawDocument, decode_text

STAGED = pa.schema(
    [
        ("doc_id", pa.string()),
        ("data", pa.large_binary()),
        ("text", pa.large_string()),
        ("refused", pa.string()),
    ]
)


def output_schema(labels: list[str], multi_label: bool = False) -> pa.Schema:
    return pa.schema(
        [
            ("doc_id", pa.string()),
            *prediction_fields(labels, multi_label),
            ("model_name", pa.string()),
            ("model_version", pa.string()),
            ("scored_at", pa.timestamp("us", tz="UTC")),
            ("reason", pa.string()),
            ("tokens", pa.int32()),
            ("long_document", pa.string()),
        ],
        metadata={"labels": json.dumps(labels)},
    )


def score_rows(
    chunk: list[RawDocument], predictor: TextPredictor, name: str, version: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A row per document of `chunk`, in order: the empty, undecodable or refused ones
    with their reason and no label, the rest scored in one call of the predictor; and
    the drift counts of the scored ones (doclstm/scoring/drift.py)."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    for raw in chunk:
        decoded = decode_text(raw.data)
        reason = raw.refused or (None if decoded.text.strip() else EMPTY_DOCUMENT)
        if reason is None:
            texts.append(decoded.text)
        elif decoded.decode_errors:
            reason = f"{reason}; undecodable bytes replaced"
        rows.append(
            {
                "doc_id": raw.doc_id,
                **unscored_row(predictor.labels),
                "model_name": name,
                "model_version": version,
                "scored_at": now,
                "reason": reason,
                "tokens": None,
                "long_document": None,
            }
        )
    scores = predictor.score(texts)
    window = predictor.loaded.max_tokens
    predictions = prediction_rows(scores.probabilities, predictor.labels, scores.chosen)
    scored = iter(zip(predictions, scores.tokens.tolist(), strict=True))
    for row in rows:
        if row["reason"] is None:
            prediction, tokens = next(scored)
            row.update(prediction)
            row["tokens"] = tokens
            row["long_document"] = scores.long_documents if tokens > window else None
    counts = shard_counts(scores, window, predictor.labels)
    return rows, counts


def staged_row(doc: RawDocument) -> dict[str, Any]:
    text = doc.data if isinstance(doc.data, str) else None
    data = doc.data if isinstance(doc.data, bytes) else None
    return {"doc_id": doc.doc_id, "data": data, "text": text, "refused": doc.refused}


def staged_document(row: dict[str, Any]) -> RawDocument:
    """The document a `staged_row` holds."""
    data = row["data"] if row["text"] is None else row["text"]
    return RawDocument(row["doc_id"], data, None, None, row["refused"])
