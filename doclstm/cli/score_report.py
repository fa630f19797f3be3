"""`doclstm inspect scores`: scored folders as a person reads them, in the terminal.

For each folder, from `doclstm.scoring.output_summary` (polars over its complete
shards): documents scored and not (with the reasons), the predicted labels with their
shares, the confidence and token quantiles, the long documents, and the drift verdict.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from doclstm.console.log_text import counted


def print_score_report(summary: dict[str, Any], console: Console) -> None:
    notes = [
        f"[yellow]{summary[key]} {what} (scored again by the next run)[/]"
        for key, what in (
            ("shards_incomplete", "incomplete"),
            ("shards_older", "by an earlier doclstm, not read"),
        )
        if summary[key]
    ]
    console.print(
        f"[bold]{escape(summary['folder'])}[/]  "
        + ", ".join([f"{counted(summary['shards'], 'complete shard')}", *notes])
    )
    if not summary["documents"]:
        console.print("  no scored documents yet")
        return
    scored, unscored = summary["scored"], summary["documents"] - summary["scored"]
    console.print(
        f"  model {', '.join(summary['models'])} version {', '.join(summary['versions'])}; "
        f"{summary['documents']:,} documents, {scored:,} scored, {unscored:,} not; "
        f"scored {summary['scored_at'][0]} .. {summary['scored_at'][1]}"
    )
    for reason, n in summary["unscored"].items():
        console.print(f"    not scored: {escape(str(reason))}: {n:,}")
    several = " (a document counts for each of its labels)" if summary["multi_label"] else ""
    table = Table(title=f"predicted labels{several}")
    table.add_column("label")
    table.add_column("documents", justify="right")
    table.add_column("share", justify="right")
    for label, found in summary["predicted"].items():
        table.add_row(escape(label), f"{found['documents']:,}", f"{found['share']:.1%}")
    console.print(table)
    unsure = summary["unsure"]
    what = "of the predicted list" if summary["multi_label"] else "top probability"
    console.print(
        f"  confidence ({what}) "
        + ", ".join(f"p{float(q) * 100:g} {v:.3f}" for q, v in summary["confidence"].items())
        + f"; {unsure['documents']:,} ({unsure['documents'] / scored:.1%}) under "
        f"score.drift.confidence {unsure['threshold']}"
    )
    console.print(
        "  tokens read "
        + ", ".join(f"p{float(q) * 100:g} {v:,}" for q, v in summary["tokens"].items())
        + "; over the model's window: "
        + (", ".join(f"{n:,} {kind}" for kind, n in summary["long_documents"].items()) or "none")
    )
    drift = summary["drift"]
    if drift is None:
        console.print("  drift: no report (score.drift.enabled: false, or the run has not ended)")
    elif drift["drifted"]:
        alerts = "; ".join(escape(a) for a in drift["alerts"])
        console.print(f"  drift: [bold red]DRIFTED[/]: {alerts} ({escape(drift['report'])})")
    else:
        console.print(f"  drift: none past score.drift's thresholds ({escape(drift['report'])})")
