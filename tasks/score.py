"""score: predict labels for every document of a source, exactly once per output folder.

Each model version scores into its own folder,
`<score.output>/<model name>/<version>/`, so a retrained model never
collides with, or overwrites, what an earlier version wrote. The source is
read in order and cut into input shards of `score.docs_per_shard`
documents. Input shard N becomes `part-NNNNN.parquet` (doc_id, label, probabilities as
list<float32> in the order of the `labels` schema metadata, model_name,
model_version, scored_at, reason, tokens, long_document), rows in source order, written
atomically and followed by its completion marker `_done/part-NNNNN.json`
(underscore folders are skipped by Arrow and Spark, so the output folder
reads as one dataset). A
rerun skips every shard whose marker and output verify, so a crash resumes
at the first unfinished shard and no document is scored twice. Documents
that cannot be scored (empty, refused by the reader) get a row with a null
label and the reason. Documents over the model's window are read whole in
windows carrying the recurrent state when the model is unidirectional and
`score.long_documents` is `window`, else truncated as in training;
`long_document` says which, and the markers and the result count both.
`force` rescoring starts the folder over.

SRC is any ingest source, or a dataset the pipeline wrote (`data/ingested`,
`data/validated`), read with its own doc_ids.

Run: `doclstm score --model models:/<name>@champion --input SRC --output DIR`.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import task

from doclstm.archive_members import ReadLimits
from doclstm.atomic import write_json
from doclstm.checkpoint import load_model_dir
from doclstm.device import pick_device
from doclstm.documents import RawDocument, decode_text
from doclstm.errors import DoclstmError
from doclstm.fingerprint import sha256_file
from doclstm.model_ref import resolve_model
from doclstm.params import ScoreParams
from doclstm.predictor import TextPredictor
from doclstm.retry_policy import io_retry_options
from doclstm.sources import iter_documents, resolve_source
from doclstm.tables import part_name, write_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreResult:
    out_dir: Path
    model_name: str
    model_version: str
    shards: int
    shards_skipped: int
    documents: int
    unscored: int
    windowed: int = 0  # documents over the model's window, read whole in windows
    truncated: int = 0  # documents over the model's window, cut as in training


def score_documents(
    params: ScoreParams,
    tracking: str,
    workspace_root: Path,
    model_cache: Path,
    force: bool = False,
) -> ScoreResult:
    """Score `params.input` with `params.model` into `params.output`."""
    if not params.model:
        raise DoclstmError("score.model is empty; give models:/<name>/<version> or a model folder")
    model = resolve_model(params.model, tracking, model_cache)
    base = params.output if params.output.is_absolute() else workspace_root / params.output
    out_dir = base / model.name / model.version
    if force and out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device("auto")
    predictor = TextPredictor(
        load_model_dir(model.model_dir, device),
        params.batch_tokens,
        str(device),
        params.long_documents,
    )
    source = resolve_source(params.input, workspace_root)
    schema = _schema(predictor.labels)
    shards = skipped = documents = unscored = 0
    long = {"windowed": 0, "truncated": 0}
    for index, chunk in enumerate(
        _chunks(iter_documents(source, ReadLimits()), params.docs_per_shard)
    ):
        shards += 1
        documents += len(chunk)
        dest = out_dir / part_name(index)
        marker = _marker_path(dest)
        done = _completed(dest, marker, model.name, model.version)
        if done is not None:
            skipped += 1
            unscored += done["unscored"]
            for key in long:
                long[key] += done.get(key, 0)  # markers written before these counts
            continue
        rows = _score_chunk(chunk, predictor, model.name, model.version)
        bad = sum(r["label"] is None for r in rows)
        unscored += bad
        counts = {k: sum(r["long_document"] == k for r in rows) for k in long}
        for key in long:
            long[key] += counts[key]
        write_table(pa.Table.from_pylist(rows, schema=schema), dest)
        write_json(
            marker,
            {
                "input_source": source.name,
                "input_shard": index,
                "rows": len(rows),
                "unscored": bad,
                **counts,
                "sha256": sha256_file(dest),
                "model_name": model.name,
                "model_version": model.version,
            },
        )
        log.info("score: shard %d, %d documents (%d unscored)", index, len(rows), bad)
    log.info(
        "score: %d shards (%d already complete), %d documents into %s",
        shards,
        skipped,
        documents,
        out_dir,
    )
    return ScoreResult(
        out_dir, model.name, model.version, shards, skipped, documents, unscored, **long
    )


score = task(name="score", **io_retry_options())(score_documents)


def _score_chunk(
    chunk: list[RawDocument], predictor: TextPredictor, name: str, version: str
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    for raw in chunk:
        decoded = decode_text(raw.data)
        reason = raw.refused or (None if decoded.text.strip() else "empty document")
        if reason is None:
            texts.append(decoded.text)
        elif decoded.decode_errors:
            reason = f"{reason}; undecodable bytes replaced"
        rows.append(
            {
                "doc_id": raw.doc_id,
                "label": None,
                "probabilities": None,
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
    scored = iter(zip(scores.probabilities, scores.tokens.tolist(), strict=True))
    for row in rows:
        if row["reason"] is None:
            p, tokens = next(scored)
            row["label"] = predictor.labels[int(p.argmax())]
            row["probabilities"] = p.tolist()
            row["tokens"] = tokens
            row["long_document"] = scores.long_documents if tokens > window else None
    return rows


def _chunks(docs: Iterator[RawDocument], size: int) -> Iterator[list[RawDocument]]:
    while chunk := list(islice(docs, size)):
        yield chunk


def _marker_path(dest: Path) -> Path:
    return dest.parent / "_done" / (dest.name.removesuffix(".parquet") + ".json")


def _completed(dest: Path, marker: Path, name: str, version: str) -> dict[str, Any] | None:
    """The shard's marker if `dest` is complete and verifies, else None."""
    if not marker.is_file():
        return None
    done: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
    if (done["model_name"], done["model_version"]) != (name, version):
        raise DoclstmError(
            f"{marker}: this folder was scored by {done['model_name']} version "
            f"{done['model_version']}, not {name} version {version} (was it copied or "
            "moved?); use --force to score it again"
        )
    return done if dest.is_file() and sha256_file(dest) == done["sha256"] else None


def _schema(labels: list[str]) -> pa.Schema:
    return pa.schema(
        [
            ("doc_id", pa.string()),
            ("label", pa.string()),
            ("probabilities", pa.list_(pa.float32())),
            ("model_name", pa.string()),
            ("model_version", pa.string()),
            ("scored_at", pa.timestamp("us", tz="UTC")),
            ("reason", pa.string()),
            ("tokens", pa.int32()),
            ("long_document", pa.string()),
        ],
        metadata={"labels": json.dumps(labels)},
    )
