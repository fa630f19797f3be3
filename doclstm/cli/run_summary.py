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
    registered = t["register"]
    mlflow_dir = Workspace(params.base.workspace.resolve()).mlflow
    bin_dir = Path(sys.executable).parent  # the .venv the user ran doclstm from
    table = Table(title="doclstm run", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [
        (
            "documents",
            f"{t['ingest'].seen} seen, {t['ingest'].ingested} ingested, "
            f"{t['ingest'].quarantined + t['validate'].quarantined} quarantined "
            f"(ingest {t['ingest'].quarantined}, validate {t['validate'].quarantined})"
            + cached_note(t["ingest"].cached and t["validate"].cached),
        ),
        (
            "token shards",
            f"{counted(t['tokenize'].shards, 'shard')}, {t['tokenize'].tokens:,} tokens, "
            f"{counted(t['tokenize'].documents, 'document')}, {t['tokenize'].truncated:,} truncated"
            + _cut_at(t["tokenize"].truncated, params)
            + cached_note(t["tokenize"].cached),
        ),
        (
            "model",
            f"{t['train'].model_dir} (best epoch {t['train'].best_epoch}, "
            f"val macro-F1 {t['train'].val_macro_f1:.4f})" + cached_note(t["train"].cached),
        ),
        (
            "test",
            f"accuracy {t['evaluate'].accuracy:.4f}, macro-F1 {t['evaluate'].macro_f1:.4f} "
            f"(report: {t['evaluate'].report_file})",
        ),
        (
            "MLflow",
            f"run {registered.run_id}, {registered.model_name} version {registered.version}",
        ),
        (
            "gate",
            f"{t['gate'].decision}: {t['gate'].reason}; champion: version {t['gate'].champion}"
            + cached_note(t["gate"].cached),
        ),
        _predictions_row(result),
        ("drift", "-" if result.score is None else drift_cell(result.score)),
        (
            "MLflow UI",
            " ".join(
                mlflow_ui_command(str(bin_dir / "mlflow"), t["register"].tracking_uri, mlflow_dir)
            )
            + "   (then open "
            + run_page("http://127.0.0.1:5000", t["register"].experiment_id, t["register"].run_id)
            + ")",
        ),
        (
            "Prefect UI",
            f"PREFECT_HOME={prefect_home()} "
            + " ".join(prefect_ui_command(str(bin_dir / "prefect")))
            + "   (then open http://127.0.0.1:4200)",
        ),
    ]
    rows += [("warning", f"[yellow]ingest: {escape(w)}[/]") for w in t["ingest"].warnings]
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
