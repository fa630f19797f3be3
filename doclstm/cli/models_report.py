"""`doclstm models`: the registered versions of the model, as a person reads them.

One row a version (newest first): its aliases, when it was registered, its test
accuracy and macro-F1, whether it was fine-tuned from a pretrained encoder, and the
last decision about it (promoted, rejected, rolled back or restored); below the table a
line a decision, with who took it, when and why; then the champion and its history,
from `doclstm.registry.model_registry.Registry`.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from doclstm.console.log_text import counted


def print_models(
    name: str, versions: list[dict[str, Any]], champion: str | None, history: list[str],
    console: Console,
) -> None:  # fmt: skip
    table = Table(
        title=f"{name}: {counted(len(versions), 'version')}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("version", justify="right")
    table.add_column("aliases")
    table.add_column("registered (UTC)", no_wrap=True)
    table.add_column("accuracy", justify="right")
    table.add_column("macro-F1", justify="right")
    table.add_column("encoder")
    table.add_column("decision")
    for row in versions:
        aliases = "\n".join(row["aliases"])
        if row["version"] == champion:
            aliases = f"[bold green]{escape(aliases)}[/]"
        table.add_row(
            row["version"],
            aliases,
            row["registered_at"].replace("T", " ")[:16],
            _number(row["test_accuracy"]),
            _number(row["test_macro_f1"]),
            "scratch" if row["pretrained_encoder"] == "none" else row["pretrained_encoder"][:12],
            "-" if row["decision"] is None else row["decision"]["decision"],
        )
    console.print(table)
    for row in versions:
        if row["decision"] is not None:
            console.print(f"version {row['version']}: {_decision(row['decision'])}", soft_wrap=True)
    shown = " -> ".join(history) if history else "none"
    console.print(f"champion: {champion or 'none'}; champion history, oldest first: {shown}")


def _when(iso: str) -> str:
    """An ISO 8601 UTC time as "2026-12-02 05:03:20 UTC"."""
    return iso.replace("T", " ").removesuffix("+00:00") + (" UTC" if iso.endswith("+00:00") else "")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _decision(decision: dict[str, Any]) -> str:
    reason = " ".join(decision["reason"].split())
    return (
        f"{decision['decision']} by {escape(decision['decided_by'])} "
        f"at {_when(decision['decided_at'])}: {escape(reason)}"
    )
