"""The Prefect artifacts every run publishes: a markdown summary and links to MLflow.

`train_pipeline` publishes counts, metrics and the gate decision with a link
to the MLflow run, and the gate's full decision (reports/gate.md) when it took
one; `score_archive` the scoring counts with a link to the model version;
`nightly_retrain` what it did and why. Links are web links when the tracking
store is an MLflow server; with the default SQLite store the markdown says how
to open it (`mlflow ui`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from doclstm.config.tracking import TRAINING_VIEW, run_page
from doclstm.flows.records import TrainingRun
from doclstm.scoring.drift import MEASURES
from doclstm.scoring.shards import ScoreResult
from doclstm.tasks.gate import GATE_MD, GateResult

# Artifact keys: a flow run shows each kind apart (the training and the scoring summary
# of one `doclstm run` used to share one key, and only the last showed).
DRIFT_KEY = "drift-report"


def training_markdown(run: TrainingRun) -> str:
    i, v, t, tr, e, r, g = (
        run["ingest"],
        run["validate"],
        run["tokenize"],
        run["train"],
        run["evaluate"],
        run["register"],
        run["gate"],
    )
    splits = ", ".join(f"{name} {count}" for name, count in sorted(i.by_split.items()))
    return "\n".join(
        [
            f"# Training: {r.model_name} version {r.version}, {g.decision}",
            "",
            "| stage | result |",
            "|---|---|",
            f"| ingest | {i.ingested} documents ({splits}), {i.quarantined} quarantined"
            f"{_reused(i.cached)} |",
            f"| validate | {v.passed} passed, {v.quarantined} quarantined, "
            f"{len(v.labels)} labels{_reused(v.cached)} |",
            f"| tokenize | {t.documents} documents, {t.tokens} tokens in {t.shards} shards, "
            f"{t.truncated} truncated{_reused(t.cached)} |",
            f"| train | best epoch {tr.best_epoch}, val accuracy {tr.val_accuracy:.4f}, "
            f"val macro-F1 {tr.val_macro_f1:.4f}, {tr.seconds:.0f} s{_reused(tr.cached)} |",
            f"| evaluate | test {e.headline}{_reused(e.cached)} |",
            f"| register | run {r.run_id}, {r.model_uri}{_reused(r.cached)} |",
            f"| gate | {g.decision}: {g.reason}; champion {g.champion or 'none'} |",
            *(f"| warning | ingest: {w} |" for w in i.warnings),
            "",
            _open_hint(r.tracking_uri, f"run {r.run_id}"),
        ]
    )


def score_markdown(result: ScoreResult, tracking_uri: str) -> str:
    return "\n".join(
        [
            f"# Scoring with {result.model_name} version {result.model_version}",
            "",
            f"- output: `{result.out_dir}`",
            f"- shards: {result.shards} ({result.shards_skipped} already complete)",
            f"- documents: {result.documents}; unscored (empty or undecodable): {result.unscored}",
            f"- long documents: {result.windowed} read whole in windows, "
            f"{result.truncated} truncated",
            f"- drift: {drift_line(result)}",
            "",
            _open_hint(tracking_uri, f"model {result.model_name}"),
        ]
    )


def drift_line(result: ScoreResult) -> str:
    """One line on the drift report, loud when a threshold was passed."""
    if result.drift_report is None:
        return "no report (score.drift.enabled is false)"
    if result.drifted:
        return f"**DRIFTED**: {'; '.join(result.drift_alerts)} (`{result.drift_report}`)"
    return f"none past the score.drift thresholds (`{result.drift_report}`)"


def drift_markdown(report: dict[str, Any], result: ScoreResult) -> str:
    """The drift report's measures against their thresholds, as a table."""
    title = f"# Drift: {result.model_name} version {result.model_version}"
    scored = report["scored"]
    if scored is None or report["training"] is None:
        return f"{title}\n\n{report['note']}\n"
    rows = [
        f"| {name} | {scored[name]:.4f} | {report['thresholds'][f'max_{name}']} |"
        for name in MEASURES
    ]
    verdict = "**DRIFTED**" if report["drifted"] else "no drift"
    return "\n".join(
        [title, "", f"{verdict}; {scored['documents']} documents scored.", "",
         "| measure | value | threshold |", "|---|---|---|", *rows, "",
         f"Report: `{result.drift_report}` (plot: `drift.png` beside it)."]
    ) + "\n"  # fmt: skip


def mlflow_run_url(tracking_uri: str, run_id: str) -> str | None:
    if not _is_web(tracking_uri):
        return None
    experiment = MlflowClient(tracking_uri).get_run(run_id).info.experiment_id
    return run_page(tracking_uri, experiment, run_id)


def model_version_url(tracking_uri: str, name: str, version: str) -> str | None:
    if not _is_web(tracking_uri) or not version.isdigit():  # a model folder, not a version
        return None
    return f"{tracking_uri.rstrip('/')}/#/models/{name}/versions/{version}?{TRAINING_VIEW}"


@task(name="publish_training_summary")
def publish_training_summary(run: TrainingRun) -> None:
    r = run["register"]
    _publish(
        "training",
        training_markdown(run),
        f"{r.model_name} version {r.version}: {run['gate'].decision}",
        mlflow_run_url(r.tracking_uri, r.run_id),
    )


@task(name="publish_gate_decision")
def publish_gate_decision(result: GateResult, reports_dir: Path) -> None:
    """The decision the gate took in this run (reports/gate.md) as its own artifact."""
    if not result.cached:
        create_markdown_artifact(
            markdown=(reports_dir / GATE_MD).read_text(encoding="utf-8"),
            key="gate-decision",
            description=f"{result.model_name} version {result.challenger}: {result.decision}",
        )


@task(name="publish_score_summary")
def publish_score_summary(result: ScoreResult, tracking_uri: str) -> None:
    if result.drift_report is not None:
        report = json.loads(result.drift_report.read_text(encoding="utf-8"))
        create_markdown_artifact(
            markdown=drift_markdown(report, result),
            key=DRIFT_KEY,
            description=f"{result.model_name} version {result.model_version}: "
            + ("drifted" if result.drifted else "no drift"),
        )
    _publish(
        "score",
        score_markdown(result, tracking_uri),
        f"{result.documents} documents scored with {result.model_name} "
        f"version {result.model_version}",
        model_version_url(tracking_uri, result.model_name, result.model_version),
    )


@task(name="publish_nightly_summary")
def publish_nightly_summary(markdown: str, description: str) -> None:
    _publish("nightly", markdown, description, None)


def _publish(kind: str, markdown: str, description: str, link: str | None) -> None:
    """`<kind>-summary`, and `<kind>-mlflow`, the link to the MLflow run or model version
    when there is a web UI to link to."""
    create_markdown_artifact(markdown=markdown, key=f"{kind}-summary", description=description)
    if link is not None:
        create_link_artifact(
            link=link, link_text="MLflow", key=f"{kind}-mlflow", description=description
        )


def _reused(cached: bool) -> str:
    return " (reused)" if cached else ""


def _is_web(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _open_hint(tracking_uri: str, what: str) -> str:
    if _is_web(tracking_uri):
        return f"MLflow: {tracking_uri} ({what})"
    return f"MLflow {what}: open with `mlflow ui --backend-store-uri {tracking_uri}`"
