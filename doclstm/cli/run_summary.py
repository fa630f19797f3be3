"""The table `doclstm run` ends with: what each stage did, and how to open the UIs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from doclstm.cli.ui_commands import mlflow_ui_command, prefect_home, prefect_ui_command
from doclstm.config.params import Params
from doclstm.config.tracking import run_page
from doclstm.config.workspace import Workspace
from doclstm.console.log_text import counted


def run_table(result: Any, params: Params) -> Table:
    """What `doclstm run` did, a row per stage, and how to open the two UIs on it."""
    t = result.training
    ingest, validate, tokenize, train, evaluate, registered, gate = (
        t[name]
        for name in ("ingest", "validate", "tokenize", "train", "evaluate", "register", "gate")
    )
    mlflow_dir = Workspace(params.base.workspace.resolve()).mlflow
    bin_dir = Path(sys.executable).parent  # the .venv the user ran doclstm from
    table = Table(title="doclstm run", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [
        (
            "documents",
            f"{ingest.seen} seen, {ingest.ingested} ingested, "
            f"{ingest.quarantined + validate.quarantined} quarantined "
            f"(ingest {ingest.quarantined}, validate {validate.quarantined})"
            + cached_note(ingest.cached and validate.cached),
        ),
        (
            "token shards",
            f"{counted(tokenize.shards, 'shard')}, {tokenize.tokens:,} tokens, "
            f"{counted(tokenize.documents, 'document')}, {tokenize.truncated:,} truncated"
            + _cut_at(tokenize.truncated, params)
            + cached_note(tokenize.cached),
        ),
        (
            "model",
            f"{train.model_dir} (best epoch {train.best_epoch}, "
            f"val macro-F1 {train.val_macro_f1:.4f})" + cached_note(train.cached),
        ),
        (
            "test",
            f"{evaluate.headline} (report: {evaluate.report_file})",
        ),
        (
            "MLflow",
            f"run {registered.run_id}, {registered.model_name} version {registered.version}",
        ),
        (
            "gate",
            f"{gate.decision}: {gate.reason}; champion: version {gate.champion}"
            + cached_note(gate.cached),
        ),
        _predictions_row(result),
        ("drift", "-" if result.score is None else drift_cell(result.score)),
        (
            "MLflow UI",
            " ".join(
                mlflow_ui_command(str(bin_dir / "mlflow"), registered.tracking_uri, mlflow_dir)
            )
            + "   (then open "
            + run_page("http://127.0.0.1:5000", registered.experiment_id, registered.run_id)
            + ")",
        ),
        (
            "Prefect UI",
            f"PREFECT_HOME={prefect_home()} "
            + " ".join(prefect_ui_command(str(bin_dir / "prefect")))
            + "   (then open http://127.0.0.1:4200)",
        ),
    ]
    rows += [("warning", f"[yellow]ingest: {escape(w)}[/]") for w in ingest.warnings]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _cut_at(truncated: int, params: Params) -> str:
    """Which setting cut them, and how to see what was lost."""
    if not truncated:
        return ""
    return (
        f" to tokenize.max_tokens {params.tokenize.max_tokens:,} "
        "(`doclstm inspect tokens` shows the lengths before the cut)"
    )


def _predictions_row(result: Any) -> tuple[str, str]:
    score = result.score
    if score is None:
        return "predictions", f"[yellow]not scored: {escape(result.not_scored)}[/]"
    return (
        "predictions",
        f"{counted(score.documents, 'document')} in {counted(score.shards, 'shard')} "
        f"({score.shards_skipped} already complete, {score.unscored} unscored) "
        f"-> {score.out_dir}",
    )


def drift_cell(score: Any) -> str:
    """The score run's drift verdict, in red when a threshold was passed."""
    if score.drift_report is None:
        return "no report (score.drift.enabled: false)"
    if score.drifted:
        alerts = "; ".join(escape(a) for a in score.drift_alerts)
        return f"[bold red]DRIFTED[/]: {alerts} ({score.drift_report})"
    return f"none past score.drift's thresholds ({score.drift_report})"


def cached_note(cached: bool) -> str:
    """The mark of a stage that reused its output."""
    return " [dim](unchanged, reused)[/]" if cached else ""
