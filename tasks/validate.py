"""validate: check ingested documents with a Great Expectations suite.

Output contract: `data/validated/part-00000.parquet` (the ingested schema,
only rows that passed) with `manifest.json`; rejected rows go to
`data/quarantine/validate.parquet` with a reason; `reports/validation/`
holds `summary.json` and the HTML Data Docs (`data_docs/index.html`).
Beyond the suite, a val/test document whose text is identical to a train
document is quarantined as leakage. The stage fails only when the
quarantined fraction exceeds `validate.failure_budget`.

Run: `doclstm stage validate`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from prefect import task

from doclstm.atomic import atomic_dir, write_json
from doclstm.errors import DoclstmError
from doclstm.expectations import build_expectations, run_suite
from doclstm.manifest import (
    StageManifest,
    file_entry,
    fresh_manifest,
    outside_name,
    stage_fingerprint,
)
from doclstm.params import ValidateParams
from doclstm.tables import DOCUMENTS, QUARANTINE, iter_verified_batches, part_name, write_table

log = logging.getLogger(__name__)
QUARANTINE_FILE = "validate.parquet"


@dataclass(frozen=True)
class ValidateResult:
    out_dir: Path
    report_dir: Path
    passed: int
    quarantined: int
    labels: list[str]
    cached: bool


def validate_documents(
    params: ValidateParams,
    ingested_dir: Path,
    out_dir: Path,
    quarantine_dir: Path,
    report_dir: Path,
) -> ValidateResult:
    """Run the suite on `ingested_dir`; keep passing rows, quarantine the rest with a reason."""
    upstream = StageManifest.load(ingested_dir)
    fingerprint = stage_fingerprint("validate", params, input=upstream.fingerprint)
    quarantine_file = quarantine_dir / QUARANTINE_FILE
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:  # its files include the quarantine file, checksum and all
        log.info("validate: ingested data unchanged, reusing %s", out_dir)
        return _result(out_dir, report_dir, cached.summary, cached=True)

    frame = pa.Table.from_batches(
        list(iter_verified_batches(ingested_dir, upstream)), schema=DOCUMENTS
    ).to_pandas()
    labels = sorted(frame.loc[frame["split"] == "train", "label"].dropna().unique().tolist())
    if not labels:
        raise DoclstmError(f"{ingested_dir}: no labelled train documents; check ingest.source")

    with atomic_dir(report_dir) as report_tmp:
        outcome = run_suite(
            frame,
            build_expectations(labels, params.min_chars, params.max_chars),
            report_tmp / "data_docs",
        )
        reasons = outcome.reasons | _leakage(frame, exclude=set(outcome.reasons))
        rejected = frame.loc[sorted(reasons)].copy()
        rejected["stage"] = "validate"
        rejected["reason"] = [reasons[i] for i in rejected.index]
        passed = frame.drop(index=list(reasons)).reset_index(drop=True)
        summary: dict[str, Any] = {
            "rows": len(frame),
            "passed": len(passed),
            "quarantined": len(rejected),
            "quarantined_fraction": len(rejected) / max(len(frame), 1),
            "failure_budget": params.failure_budget,
            "labels": labels,
            "reasons": rejected["reason"].value_counts().sort_index().to_dict(),
            "duplicate_texts": int(frame["sha256"].duplicated().sum()),
            "expectations": outcome.expectations,
        }
        write_json(report_tmp / "summary.json", summary)

    write_table(
        pa.Table.from_pandas(rejected[QUARANTINE.names], schema=QUARANTINE, preserve_index=False),
        quarantine_file,
    )
    if summary["quarantined_fraction"] > params.failure_budget:
        raise DoclstmError(
            f"validate: {len(rejected)} of {len(frame)} rows quarantined "
            f"({summary['quarantined_fraction']:.1%}), over validate.failure_budget "
            f"{params.failure_budget:.1%}; see {quarantine_file} and {report_dir}/summary.json"
        )
    with atomic_dir(out_dir) as tmp:
        name = part_name(0)
        write_table(
            pa.Table.from_pandas(passed, schema=DOCUMENTS, preserve_index=False), tmp / name
        )
        files = {
            name: file_entry(tmp / name, len(passed)),
            outside_name(quarantine_file, out_dir): file_entry(quarantine_file, len(rejected)),
        }
        StageManifest("validate", fingerprint, files, summary).write(tmp)
    log.info(
        "validate: %d passed, %d quarantined %s", len(passed), len(rejected), summary["reasons"]
    )
    return _result(out_dir, report_dir, summary, cached=False)


validate = task(name="validate", retries=0)(validate_documents)


def _leakage(frame: pd.DataFrame, exclude: set[int]) -> dict[int, str]:
    """val/test rows whose text is identical to a train row: they would inflate the scores."""
    ok = frame.drop(index=list(exclude))
    train = ok[ok["split"] == "train"].drop_duplicates("sha256").set_index("sha256")["doc_id"]
    held_out = ok[ok["split"].isin(["val", "test"]) & ok["sha256"].isin(train.index)]
    return {
        int(i): f"leakage: same text as train document {train[sha]}"
        for i, sha in held_out["sha256"].items()
    }


def _result(
    out_dir: Path, report_dir: Path, summary: dict[str, Any], cached: bool
) -> ValidateResult:
    return ValidateResult(
        out_dir, report_dir, summary["passed"], summary["quarantined"], summary["labels"], cached
    )
