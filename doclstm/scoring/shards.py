"""Scoring a source shard by shard, exactly once per output folder, in one process or many.

The source is read in order and cut into input shards of `score.docs_per_shard`
documents. Input shard N becomes output `part-NNNNN.parquet` (doclstm/scoring/rows.py),
rows in source order, with its completion marker (doclstm/scoring/shard_markers.py); a
rerun skips every shard whose marker and output verify, so a crash resumes at the first
unfinished shard and no document is scored twice. Each marker names the model version
and `score.precision`: a folder written by another model (copied or moved) or in the
other precision stops the run rather than mix the two; a marker of another
scoring code is scored again. Each marker also keeps the shard's drift counts,
which `summarize_score` sums into the folder's drift report (doclstm/scoring/drift.py).

For scale-out, `stage_input_shards` reads the source once, in order, and writes each
input shard that still needs scoring to `<out>/_input/part-NNNNN.parquet` (the raw
bytes, with a marker of its own); `score_input_shard` then scores one staged shard, in
any process that sees the folder (a thread, a Ray worker), writes its output and
marker, and deletes the staged copy.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from doclstm.console.log_text import counted
from doclstm.errors import DoclstmError
from doclstm.scoring import shard_markers
from doclstm.scoring.drift import drift_report, log_drift_metrics, merge_counts, write_drift_report
from doclstm.scoring.job import ScoreJob, predictor
from doclstm.scoring.prediction_columns import PREDICTED
from doclstm.scoring.predictor import TextPredictor
from doclstm.scoring.rows import STAGED, output_schema, score_rows, staged_document, staged_row
from doclstm.sources.archive_members import ReadLimits
from doclstm.sources.documents import RawDocument
from doclstm.sources.resolve import iter_documents
from doclstm.storage.tables import part_name
from doclstm.storage.token_data import PROFILE_FILE

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
    drifted: bool = False  # any score.drift threshold passed (doclstm/scoring/drift.py)
    drift_alerts: tuple[str, ...] = ()
    drift_report: Path | None = None  # <out_dir>/_drift/drift.json


@dataclass(frozen=True)
class ShardDone:
    index: int
    documents: int
    unscored: int
    windowed: int
    truncated: int
    skipped: bool  # complete before this run
    counts: dict[str, Any] = field(default_factory=dict)  # its drift counts


def input_shards(job: ScoreJob) -> Iterator[list[RawDocument]]:
    """The source's documents in order, `score.docs_per_shard` at a time."""
    documents = iter_documents(job.source, ReadLimits())
    while chunk := list(islice(documents, job.params.docs_per_shard)):
        yield chunk


def completed_shard(job: ScoreJob, index: int) -> ShardDone | None:
    """The outcome recorded in output shard `index`'s marker, if it is complete."""
    shard = job.out_dir / part_name(index)
    record = shard_markers.read_marker(shard)
    if record is None:
        return None
    _check_same_scorer(job, record, shard_markers.marker_path(shard))
    if record.get("code") != shard_markers.scoring_code() or not shard_markers.verifies(
        shard, record
    ):
        return None  # written by another doclstm (an older marker): scored again
    return ShardDone(
        index,
        record["rows"],
        record["unscored"],
        record["windowed"],
        record["truncated"],
        skipped=True,
        counts=record["counts"],
    )


def write_output_shard(
    job: ScoreJob, index: int, chunk: list[RawDocument], scorer: TextPredictor
) -> ShardDone:
    rows, counts = score_rows(chunk, scorer, job.model_name, job.model_version)
    bad = sum(r[PREDICTED] is None for r in rows)
    long = {k: sum(r["long_document"] == k for r in rows) for k in ("windowed", "truncated")}
    shard_markers.write_shard(
        pa.Table.from_pylist(rows, schema=output_schema(scorer.labels, scorer.multi_label)),
        job.out_dir / part_name(index),
        {
            "input_source": job.source.name,
            "input_shard": index,
            "rows": len(rows),
            "unscored": bad,
            **long,
            "model_name": job.model_name,
            "model_version": job.model_version,
            "labels": scorer.labels,  # the order of prob_<label> and probabilities
            "precision": job.params.precision,
            "code": shard_markers.scoring_code(),
            "counts": counts,
        },
    )
    log.info("score: shard %d, %d documents (%d unscored)", index, len(rows), bad)
    return ShardDone(index, len(rows), bad, **long, skipped=False, counts=counts)


def stage_input_shards(job: ScoreJob) -> Iterator[ShardDone | int]:
    """Read the source once; yield a complete shard's outcome, or the index of a staged
    one. A staged shard left by a killed run is reused only when it verifies, and one
    whose output completed before the kill is removed."""
    job.staging.mkdir(exist_ok=True)
    for index, chunk in enumerate(input_shards(job)):
        staged = job.staging / part_name(index)
        done = completed_shard(job, index)
        if done is not None:
            shard_markers.remove_shard(staged)
            yield done
            continue
        if shard_markers.completed(staged) is None:
            table = pa.Table.from_pylist([staged_row(d) for d in chunk], STAGED)
            shard_markers.write_shard(table, staged, {"input_shard": index})
        yield index


def score_input_shard(job: ScoreJob, index: int) -> ShardDone:
    """Score staged input shard `index`: output and marker, then the staged copy goes.

    A retry after the output was written (its staged copy perhaps already gone)
    finds the shard complete and only clears what is left of the staged copy."""
    staged = job.staging / part_name(index)
    done = completed_shard(job, index)
    if done is None:
        if shard_markers.completed(staged) is None:
            raise DoclstmError(f"{staged}: staged input shard missing or corrupt; score again")
        chunk = [staged_document(row) for row in pq.read_table(staged).to_pylist()]
        done = write_output_shard(job, index, chunk, predictor(job))
    shard_markers.remove_shard(staged)
    return done


def summarize_score(job: ScoreJob, outcomes: list[ShardDone]) -> ScoreResult:
    """One result for the whole source, once every shard is complete."""
    outcomes = sorted(outcomes, key=lambda o: o.index)
    if [o.index for o in outcomes] != list(range(len(outcomes))):
        raise DoclstmError(f"{job.out_dir}: shards missing from this run's outcomes")
    shutil.rmtree(job.staging, ignore_errors=True)  # every shard is complete: nothing to keep
    report, report_file = _drift(job, outcomes)
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
        drifted=bool(report and report["drifted"]),
        drift_alerts=tuple(report["alerts"]) if report else (),
        drift_report=report_file,
    )
    log.info(
        "score: %s (%d already complete), %s into %s",
        counted(result.shards, "shard"),
        result.shards_skipped,
        counted(result.documents, "document"),
        result.out_dir,
    )
    return result


def _drift(job: ScoreJob, outcomes: list[ShardDone]) -> tuple[dict[str, Any] | None, Path | None]:
    """The folder's drift report and where it was written; none when it is turned off."""
    if not job.params.drift.enabled:
        return None, None
    counts = merge_counts([o.counts for o in outcomes])
    report = drift_report(counts, _training_profile(job), job.params.drift)
    report_file = write_drift_report(job.out_dir, report, f"{job.model_name} {job.model_version}")
    if not job.metrics_in_background:
        log_drift_metrics(job.tracking, job.model_name, job.model_version, report)
    elif job.model_version.isdigit():
        from doclstm.scoring.drift_logger import log_in_background

        log_in_background(
            report_file,
            job.tracking,
            job.model_name,
            job.model_version,
            job.params.model,
            job.model_cache,
        )
    for alert in report["alerts"]:
        log.warning("score: DRIFT: %s (%s)", alert, report_file)
    return report, report_file


def _training_profile(job: ScoreJob) -> dict[str, Any] | None:
    """The model folder's profile of its training data (verified with the folder)."""
    path = job.model_dir / PROFILE_FILE
    if not path.is_file():
        return None
    profile: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return profile


def _check_same_scorer(job: ScoreJob, record: dict[str, Any], marker: Path) -> None:
    name, version = job.model_name, job.model_version
    if (record["model_name"], record["model_version"]) != (name, version):
        raise DoclstmError(
            f"{marker}: this folder was scored by {record['model_name']} version "
            f"{record['model_version']}, not {name} version {version} (was it copied or "
            "moved?); use --force to score it again"
        )
    if record["precision"] != job.params.precision:
        raise DoclstmError(
            f"{marker}: this folder was scored in {record['precision']}, and score.precision "
            f"is {job.params.precision}; set it back to finish the run, or use --force to "
            "score it all again"
        )
