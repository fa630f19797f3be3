"""validate: check ingested documents with Great Expectations, batch by batch.

Output contract: `data/validated/part-NNNNN.parquet` (the ingested schema,
only rows that passed) with `manifest.json`; rejected rows go to
`data/quarantine/validate.parquet` with a reason; `reports/validation/`
holds `summary.json` and the HTML Data Docs (`data_docs/index.html`).

A first pass asks the whole dataset, in polars (doclstm/sources/census.py),
for the train label set, the ids seen twice, the val/test texts that are
train texts, and the counts and text lengths per split and class (the
summary's "census"); the second runs the row-level suite on one batch of
rows at a time, each a page of the Data Docs, so memory is bounded by a
batch and the census's hashes. Beyond the suite, a
val/test document whose text is identical to a train document is
quarantined as leakage, and a doc_id seen in an earlier batch as a
duplicate. With `validate.labels` declared, a row with any other label is
quarantined. `validate.task` says whether a document has one label or several
(doclstm/sources/label_task.py); the validated rows hold them as `label` or as
`labels`, and the manifest's summary says which (`task`). Class balance is a
warning. The stage fails when the quarantined fraction exceeds
`validate.failure_budget`, when the train split keeps fewer than two classes,
or when a train class keeps fewer than `validate.min_class_documents`
documents (a stray folder becomes a class otherwise; a multi-label dataset may
drop such labels instead: `validate.rare_labels`).

Run: `doclstm stage validate`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from doclstm.config.params import ValidateParams
from doclstm.config.workspace import DATA_DOCS
from doclstm.console.log_text import reasons_note
from doclstm.errors import DoclstmError
from doclstm.sources.census import Census, take_census
from doclstm.sources.data_docs_offline import make_offline
from doclstm.sources.expectations import DocumentSuite
from doclstm.sources.label_task import LabelTask, resolve_task
from doclstm.storage.atomic import atomic_dir, write_json
from doclstm.storage.manifest import (
    StageManifest,
    file_entry,
    fresh_manifest,
    outside_name,
    stage_fingerprint,
)
from doclstm.storage.table_writer import PartedWriter, TableWriter
from doclstm.storage.tables import DOCUMENTS, QUARANTINE, data_parts, iter_verified_batches

log = logging.getLogger(__name__)
QUARANTINE_FILE = "validate.parquet"
ROWS_PER_PART = 50_000
# Rows the suite sees at once: GE copies its frame a few times, so this bounds memory.
BATCH_ROWS = 10_000


@dataclass(frozen=True)
class ValidateResult:
    out_dir: Path
    report_dir: Path
    passed: int
    quarantined: int
    labels: list[str]
    cached: bool
    task: str = "single"


def validate_documents(
    params: ValidateParams,
    ingested_dir: Path,
    out_dir: Path,
    quarantine_dir: Path,
    report_dir: Path,
) -> ValidateResult:
    """Run the suite on `ingested_dir`; keep passing rows, quarantine the rest with a reason."""
    upstream = StageManifest.load(ingested_dir)
    fingerprint = stage_fingerprint("validate", __name__, params, input=upstream.fingerprint)
    quarantine_file = quarantine_dir / QUARANTINE_FILE
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:  # its files include the quarantine file, checksum and all
        log.info("validate: ingested data unchanged, reusing %s", out_dir)
        return _result(out_dir, report_dir, cached.summary, cached=True)

    census = _take_census(ingested_dir, upstream)
    if not census.train_labels:
        raise DoclstmError(f"{ingested_dir}: no labelled train documents; check ingest.source")
    task = resolve_task(params, census)
    labels = sorted(set(params.labels or census.train_labels) - set(task.dropped))

    with atomic_dir(out_dir) as tmp:
        summary = _validate_parts(
            params, census, task, labels, ingested_dir, upstream, tmp, quarantine_file, report_dir
        )
        # The report and the quarantine stay for a person to read; no validated data.
        if summary["quarantined_fraction"] > params.failure_budget:
            raise _over_budget(summary, quarantine_file, report_dir)
        _check_classes(summary["train_classes"], params, report_dir, task)
        files = {name: file_entry(tmp / name, rows) for name, rows in summary.pop("parts").items()}
        files[outside_name(quarantine_file, out_dir)] = file_entry(
            quarantine_file, summary["quarantined"]
        )
        StageManifest("validate", fingerprint, files, summary).write(tmp)
    log.info(
        "validate: %d passed, %d quarantined%s",
        summary["passed"],
        summary["quarantined"],
        reasons_note(summary["reasons"]),
    )
    return _result(out_dir, report_dir, summary, cached=False)


def _validate_parts(
    params: ValidateParams,
    census: Census,
    task: LabelTask,
    labels: list[str],
    ingested_dir: Path,
    upstream: StageManifest,
    out_dir: Path,
    quarantine_file: Path,
    report_dir: Path,
) -> dict[str, Any]:
    """The second pass: the suite part by part; passing rows to `out_dir`, the rest to
    quarantine; the summary and Data Docs to `report_dir`."""
    label_reason = (
        "label not in validate.labels" if params.labels else "label not among the train labels"
    )
    with atomic_dir(report_dir) as report_tmp:
        suite = DocumentSuite(
            labels,
            params.min_chars,
            params.max_chars,
            report_tmp / DATA_DOCS,
            label_reason,
            multi=task.multi,
        )
        passed = PartedWriter(out_dir, DOCUMENTS, ROWS_PER_PART, 4_096)
        reasons: Counter[str] = Counter()
        train_classes: Counter[str] = Counter({label: 0 for label in labels})
        expectations: list[dict[str, Any]] = []
        with TableWriter(quarantine_file, QUARANTINE, 4_096) as rejected:
            first = 0
            for batch in iter_verified_batches(ingested_dir, upstream, batch_rows=BATCH_ROWS):
                rows = batch.to_pylist()
                unfit = {i: why for i, row in enumerate(rows) if (why := task.normalise(row))}
                reshaped = task.multi or census.listed  # normalise changed some rows
                frame = (
                    pa.Table.from_pylist(rows, schema=DOCUMENTS) if reshaped else batch
                ).to_pandas()
                name = f"ingested rows {first}-{first + len(rows) - 1}"
                flagged, repeated = _census_of_rows(census, first, len(rows))
                outcome = suite.validate_rows(frame, name, flagged, repeated)
                found = unfit | {i: why for i, why in outcome.reasons.items() if i not in unfit}
                first += len(rows)
                for index, row in enumerate(rows):
                    reason = found.get(index)
                    if reason is None:
                        passed.add(row)
                        if row["split"] == "train":
                            train_classes.update(_labels_of(row))
                    else:
                        rejected.add(_quarantine_row(row, reason))
                        reasons[reason.split(" (")[0]] += 1
                expectations = _merge(expectations, outcome.expectations)
        parts = passed.close()
        summary: dict[str, Any] = {
            "rows": census.rows,
            "passed": sum(parts.values()),
            "quarantined": rejected.rows,
            "quarantined_fraction": rejected.rows / max(census.rows, 1),
            "failure_budget": params.failure_budget,
            "task": task.kind,
            "labels": labels,
            "train_classes": dict(sorted(train_classes.items())),
            "reasons": dict(sorted(reasons.items())),
            "census": census.summary(),
            "expectations": expectations,
            "warnings": [],
        }
        if task.dropped:
            summary["dropped_labels"] = task.dropped
            summary["warnings"].append(
                f"{len(task.dropped)} label(s) under validate.min_class_documents taken off "
                f"their documents: {', '.join(task.dropped)}"
            )
        balance = suite.check_train_classes(
            summary["train_classes"], params.max_class_ratio, params.min_class_documents
        )
        summary["class_balance"] = balance
        if not balance["success"]:
            summary["warnings"].append(
                f"train classes unbalanced: largest/smallest = {balance['largest_to_smallest']} "
                f"> validate.max_class_ratio {params.max_class_ratio}"
            )
            log.warning("validate: %s", summary["warnings"][-1])
        make_offline(report_tmp / DATA_DOCS)  # pages that need no CDN
        write_json(report_tmp / "summary.json", summary)
    return summary | {"parts": parts}


def _take_census(ingested_dir: Path, upstream: StageManifest) -> Census:
    parts = [upstream.verified_file(ingested_dir, name) for name in data_parts(upstream, "")]
    return take_census(parts)


def _labels_of(row: dict[str, Any]) -> list[str]:
    if row["labels"] is not None:
        return list(row["labels"])
    return [] if row["label"] is None else [row["label"]]


def _census_of_rows(census: Census, first: int, count: int) -> tuple[dict[int, str], set[int]]:
    """What the census found among rows `first` .. `first + count - 1` of the dataset, by
    their index in the batch: the repeated ids and leaks with their reasons, and the rows
    that repeat an earlier text."""
    rows = range(first, first + count)
    flagged = {row - first: census.flagged[row] for row in rows if row in census.flagged}
    return flagged, {row - first for row in rows if row in census.repeated_texts}


def _merge(total: list[dict[str, Any]], part: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add one part's per-expectation counts to the running totals."""
    if not total:
        return [dict(e) for e in part]
    for mine, theirs in zip(total, part, strict=True):
        mine["success"] = mine["success"] and theirs["success"]
        mine["unexpected_count"] += theirs["unexpected_count"]
    return total


def _quarantine_row(row: dict[str, Any], reason: str) -> dict[str, Any]:
    return {name: row.get(name) for name in QUARANTINE.names} | {
        "stage": "validate",
        "reason": reason,
    }


def _check_classes(
    classes: dict[str, int], params: ValidateParams, report_dir: Path, task: LabelTask
) -> None:
    """A classifier needs two classes, each with enough train documents to learn from."""
    present = [label for label, count in classes.items() if count]
    if len(present) < 2:
        held = f"one class ({present[0]!r})" if present else "no class"
        raise DoclstmError(
            f"validate: the train split has {held}; a classifier needs at least two: check "
            f"ingest.source (its label folders or label column); see {report_dir}/summary.json"
        )
    small = {label: count for label, count in classes.items() if count < params.min_class_documents}
    if small and task.multi:
        named = ", ".join(f"{label!r} ({n})" for label, n in sorted(small.items())[:10])
        raise DoclstmError(
            f"validate: {len(small)} train label(s) under validate.min_class_documents "
            f"({params.min_class_documents}): {named}"
            + (", ..." if len(small) > 10 else "")
            + "; add documents, set validate.rare_labels: drop to take them off their "
            "documents, or list the expected labels in validate.labels"
        )
    if small:
        label, count = min(small.items(), key=lambda item: item[1])
        raise DoclstmError(
            f"validate: train class {label!r} has {count} document(s), fewer than "
            f"validate.min_class_documents ({params.min_class_documents})"
            + (f", and {len(small) - 1} more class(es) too" if len(small) > 1 else "")
            + "; add documents, remove the class from the source, or list the expected "
            "labels in validate.labels"
        )


def _over_budget(summary: dict[str, Any], quarantine_file: Path, report_dir: Path) -> DoclstmError:
    return DoclstmError(
        f"validate: {summary['quarantined']} of {summary['rows']} rows quarantined "
        f"({summary['quarantined_fraction']:.1%}), over validate.failure_budget "
        f"{summary['failure_budget']:.1%}; see {quarantine_file} and {report_dir}/summary.json"
    )


def _result(
    out_dir: Path, report_dir: Path, summary: dict[str, Any], cached: bool
) -> ValidateResult:
    return ValidateResult(
        out_dir,
        report_dir,
        summary["passed"],
        summary["quarantined"],
        summary["labels"],
        cached,
        summary.get("task", "single"),
    )
