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
`score.precision` bf16 runs the model under bf16 autocast; each marker
records the precision, and a rerun in the other one stops rather than mix
the two in one folder. `force` rescoring starts the folder over. The folder
is locked while it is scored (`score_job`), so exactly once also holds
between scorers started together from different workspaces or machines.

SRC is any ingest source, or a dataset the pipeline wrote (`data/ingested`,
`data/validated`), read with its own doc_ids.

Two ways to run, same rows out. `score_documents` reads and scores in one
process, shard after shard: least overhead on one machine. For scale-out,
`stage_input_shards` reads the source once, in order, and writes each input
shard that still needs scoring to `<out>/_input/part-NNNNN.parquet` (the raw
bytes, atomically); `score_input_shard` then scores one staged shard, in
any process that sees the folder (a thread, a Ray worker), writes its output
and marker, and deletes the staged copy. flows/score.py fans the shards out
as Prefect tasks.

Run: `doclstm score --model models:/<name>@champion --input SRC --output DIR`.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task

from doclstm.archive_members import ReadLimits
from doclstm.atomic import write_json
from doclstm.checkpoint import MODEL_FILES, LoadedModel, load_model_dir
from doclstm.device import pick_device, warn_if_bf16_is_emulated
from doclstm.documents import RawDocument, decode_text
from doclstm.errors import DoclstmError
from doclstm.file_lock import exclusive_lock
from doclstm.fingerprint import sha256_file
from doclstm.model_ref import resolve_model
from doclstm.params import ScoreParams
from doclstm.predictor import TextPredictor
from doclstm.retry_policy import io_retry_options
from doclstm.sources import ResolvedSource, iter_documents, resolve_source
from doclstm.tables import part_name, write_table

log = logging.getLogger(__name__)
OUTPUT_LOCK = ".score.lock"  # dot names are skipped by Arrow and Spark readers
LOCK_SETTING = "score.lock_wait_seconds"


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


@dataclass(frozen=True)
class ScoreJob:
    """Everything a process needs to score shards of one source with one model."""

    params: ScoreParams
    source: ResolvedSource
    model_dir: Path
    model_name: str
    model_version: str
    out_dir: Path

    @property
    def staging(self) -> Path:
        return self.out_dir / "_input"


@dataclass(frozen=True)
class ShardDone:
    index: int
    documents: int
    unscored: int
    windowed: int
    truncated: int
    skipped: bool  # complete before this run


@contextmanager
def score_job(
    params: ScoreParams,
    tracking: str,
    workspace_root: Path,
    model_cache: Path,
    force: bool = False,
) -> Iterator[ScoreJob]:
    """The job, with the output folder of the model version locked for the block.

    Resolves the model (downloading a registry version once) and the folder.
    The lock (`.score.lock` in the folder, an OS lock) is what makes exactly
    once hold across processes: a second scorer of the same folder, from any
    workspace or machine that shares it, waits `score.lock_wait_seconds` and
    then fails naming the holder, instead of writing the same shards again."""
    if not params.model:
        raise DoclstmError("score.model is empty; give models:/<name>/<version> or a model folder")
    model = resolve_model(params.model, tracking, model_cache)
    base = params.output if params.output.is_absolute() else workspace_root / params.output
    out_dir = base / model.name / model.version
    out_dir.mkdir(parents=True, exist_ok=True)
    busy = f"score output {out_dir} is being written by another scorer"
    with exclusive_lock(out_dir / OUTPUT_LOCK, params.lock_wait_seconds, busy, LOCK_SETTING):
        if force:  # everything but the lock this process holds
            for child in out_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                elif child.name != OUTPUT_LOCK:
                    child.unlink()
        source = resolve_source(params.input, workspace_root)
        yield ScoreJob(params, source, model.model_dir, model.name, model.version, out_dir)


def score_documents(
    params: ScoreParams,
    tracking: str,
    workspace_root: Path,
    model_cache: Path,
    force: bool = False,
) -> ScoreResult:
    """Score `params.input` with `params.model` into `params.output`, in this process."""
    with score_job(params, tracking, workspace_root, model_cache, force) as job:
        predictor = _predictor(job)
        outcomes = []
        for index, chunk in enumerate(_chunks(_documents(job), params.docs_per_shard)):
            done = _completed_shard(job, index) or _write_shard(job, index, chunk, predictor)
            outcomes.append(done)
        return summarize_score(job, outcomes)


def stage_input_shards(job: ScoreJob) -> Iterator[ShardDone | int]:
    """Read the source once; yield a complete shard's outcome, or the index of a staged one.

    A staged shard is written atomically, then its sha256 beside it
    (`part-NNNNN.json`), so one left by a killed run is reused only when it
    verifies, and one whose output completed before the kill is removed.
    """
    job.staging.mkdir(exist_ok=True)
    for index, chunk in enumerate(_chunks(_documents(job), job.params.docs_per_shard)):
        staged = job.staging / part_name(index)
        done = _completed_shard(job, index)
        if done is not None:
            _remove_staged(staged)
            yield done
            continue
        if not _staged_verifies(staged):
            write_table(pa.Table.from_pylist([_staged_row(d) for d in chunk], _STAGED), staged)
            write_json(_staged_marker(staged), {"sha256": sha256_file(staged)})
        yield index


def score_input_shard(job: ScoreJob, index: int) -> ShardDone:
    """Score staged input shard `index`: output and marker, then the staged copy goes.

    A retry after the output was written (its staged copy perhaps already gone)
    finds the shard complete and only clears what is left of the staged copy."""
    staged = job.staging / part_name(index)
    done = _completed_shard(job, index)
    if done is None:
        if not _staged_verifies(staged):
            raise DoclstmError(f"{staged}: staged input shard missing or corrupt; score again")
        chunk = [
            RawDocument(
                r["doc_id"], r["data"] if r["text"] is None else r["text"], None, None, r["refused"]
            )
            for r in pq.read_table(staged).to_pylist()
        ]
        done = _write_shard(job, index, chunk, _predictor(job))
    _remove_staged(staged)
    return done


def summarize_score(job: ScoreJob, outcomes: list[ShardDone]) -> ScoreResult:
    """One result for the whole source, once every shard is complete."""
    outcomes = sorted(outcomes, key=lambda o: o.index)
    if [o.index for o in outcomes] != list(range(len(outcomes))):
        raise DoclstmError(f"{job.out_dir}: shards missing from this run's outcomes")
    shutil.rmtree(job.staging, ignore_errors=True)  # every shard is complete: nothing to keep
    result = ScoreResult(
        job.out_dir,
        job.model_name,
        job.model_version,
        shards=len(outcomes),
        shards_skipped=sum(o.skipped for o in outcomes),
        documents=sum(o.documents for o in outcomes),
        unscored=sum(o.unscored for o in outcomes),
        windowed=sum(o.windowed for o in outcomes),
        truncated=sum(o.truncated for o in outcomes),
    )
    log.info(
        "score: %d shards (%d already complete), %d documents into %s",
        result.shards,
        result.shards_skipped,
        result.documents,
        result.out_dir,
    )
    return result


score = task(name="score", **io_retry_options())(score_documents)
score_shard = task(name="score-shard", **io_retry_options())(score_input_shard)

# A staged input shard: the document as the source gave it, bytes or text, or its refusal.
_STAGED = pa.schema(
    [
        ("doc_id", pa.string()),
        ("data", pa.large_binary()),
        ("text", pa.large_string()),
        ("refused", pa.string()),
    ]
)


def _staged_row(doc: RawDocument) -> dict[str, Any]:
    text = doc.data if isinstance(doc.data, str) else None
    data = doc.data if isinstance(doc.data, bytes) else None
    return {"doc_id": doc.doc_id, "data": data, "text": text, "refused": doc.refused}


def _staged_marker(staged: Path) -> Path:
    return staged.with_suffix(".json")


def _staged_verifies(staged: Path) -> bool:
    """True when the staged shard and its checksum are there and agree."""
    marker = _staged_marker(staged)
    if not (staged.is_file() and marker.is_file()):
        return False
    return bool(sha256_file(staged) == json.loads(marker.read_text(encoding="utf-8"))["sha256"])


def _remove_staged(staged: Path) -> None:
    staged.unlink(missing_ok=True)
    _staged_marker(staged).unlink(missing_ok=True)


@lru_cache(maxsize=2)
def _loaded(model_dir: Path, device: str, stamp: tuple[int, int]) -> LoadedModel:
    """One copy of the model per process, shared by every shard it scores; `stamp` (the
    weights' mtime and size) makes a model retrained into the same folder load again."""
    return load_model_dir(model_dir, device)


def _predictor(job: ScoreJob) -> TextPredictor:
    picked = pick_device("auto")
    if job.params.precision == "bf16":
        warn_if_bf16_is_emulated(picked, "score.precision")
    device = str(picked)
    weights = (job.model_dir / MODEL_FILES[0]).stat()
    return TextPredictor(
        _loaded(job.model_dir, device, (weights.st_mtime_ns, weights.st_size)),
        job.params.batch_tokens,
        device,
        job.params.long_documents,
        job.params.precision,
    )


def _documents(job: ScoreJob) -> Iterator[RawDocument]:
    return iter_documents(job.source, ReadLimits())


def _completed_shard(job: ScoreJob, index: int) -> ShardDone | None:
    """The outcome recorded in shard `index`'s marker, if its output is complete."""
    dest = job.out_dir / part_name(index)
    done = _completed(dest, _marker_path(dest), job)
    if done is None:
        return None
    # Markers written before these counts existed have none.
    long = {k: done.get(k, 0) for k in ("windowed", "truncated")}
    return ShardDone(index, done["rows"], done["unscored"], **long, skipped=True)


def _write_shard(
    job: ScoreJob, index: int, chunk: list[RawDocument], predictor: TextPredictor
) -> ShardDone:
    rows = _score_chunk(chunk, predictor, job.model_name, job.model_version)
    bad = sum(r["label"] is None for r in rows)
    counts = {k: sum(r["long_document"] == k for r in rows) for k in ("windowed", "truncated")}
    dest = job.out_dir / part_name(index)
    write_table(pa.Table.from_pylist(rows, schema=_schema(predictor.labels)), dest)
    write_json(
        _marker_path(dest),
        {
            "input_source": job.source.name,
            "input_shard": index,
            "rows": len(rows),
            "unscored": bad,
            **counts,
            "sha256": sha256_file(dest),
            "model_name": job.model_name,
            "model_version": job.model_version,
            "precision": job.params.precision,
        },
    )
    log.info("score: shard %d, %d documents (%d unscored)", index, len(rows), bad)
    return ShardDone(index, len(rows), bad, **counts, skipped=False)


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


def _completed(dest: Path, marker: Path, job: ScoreJob) -> dict[str, Any] | None:
    """The shard's marker if `dest` is complete and verifies, else None."""
    if not marker.is_file():
        return None
    done: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
    name, version = job.model_name, job.model_version
    if (done["model_name"], done["model_version"]) != (name, version):
        raise DoclstmError(
            f"{marker}: this folder was scored by {done['model_name']} version "
            f"{done['model_version']}, not {name} version {version} (was it copied or "
            "moved?); use --force to score it again"
        )
    scored_in = done.get("precision", "fp32")  # markers from before score.precision
    if scored_in != job.params.precision:
        raise DoclstmError(
            f"{marker}: this folder was scored in {scored_in}, and score.precision is "
            f"{job.params.precision}; set it back to finish the run, or use --force to score "
            "it all again"
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
