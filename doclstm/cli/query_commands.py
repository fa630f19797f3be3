"""The commands that read what the pipeline made: `predict`, `models`, `inspect tokens`
and `inspect scores` (registered on the `doclstm` app by doclstm/cli/commands.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from doclstm.cli.common import (
    HELP,
    ParamsFileOption,
    SetOption,
    console,
    params_file_or_shipped,
    registry_of,
)
from doclstm.config.params import load_params
from doclstm.errors import DoclstmError

inspect_app = typer.Typer(
    rich_markup_mode="markdown",  # docstring lines joined, `code` shown as code
    no_args_is_help=True,
    context_settings=HELP,
    help="Look at what a stage wrote.",
)


def predict(
    texts: list[str] = typer.Argument(None, help="texts to classify; none: --file or stdin"),
    files: list[Path] = typer.Option([], "--file", "-f", help="a file to classify (repeatable)"),
    lines: bool = typer.Option(False, help="one document a line of the files or of stdin"),
    model: str = typer.Option(
        "", "--model", "-m", help="as for `doclstm score`; default score.model, the champion"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object a document"),
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
) -> None:
    """Classify texts given as arguments, files or standard input."""
    from doclstm.cli.predict import predictions, print_predictions, read_documents
    from doclstm.scoring.model_ref import resolve_model
    from doclstm.tasks.table import score_arguments

    model_setting = [f"score.model={model}"] if model else []
    params = load_params(params_file_or_shipped(params_file), [*overrides, *model_setting])
    documents = read_documents(texts or [], files, lines, sys.stdin)
    arguments = score_arguments(params)
    resolved = resolve_model(arguments.params.model, arguments.tracking, arguments.model_cache)
    score = arguments.params
    records = predictions(documents, resolved.model_dir, score.batch_tokens, score.long_documents)
    shown = f"{resolved.name} version {resolved.version}"
    print_predictions(records, documents, shown, as_json, console)


def models(
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
    as_json: bool = typer.Option(False, "--json", help="print the versions as JSON"),
) -> None:
    """The registered versions: aliases, test metrics, gate decisions, champion history."""

    from doclstm.cli.models_report import print_models

    registry = registry_of(load_params(params_file_or_shipped(params_file), overrides))
    registry.finish_pending_change()  # a change a crash interrupted shows as finished
    versions, champion, history = registry.versions(), registry.champion(), registry.history()
    if as_json:
        print(json.dumps({"model": registry.name, "champion": champion, "history": history,
                          "versions": versions}, indent=2))  # fmt: skip
        return
    print_models(registry.name, versions, champion, history, console)


@inspect_app.command("tokens")
def inspect_tokens(
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
    verify: bool = typer.Option(False, help="also check every shard's checksum"),
) -> None:
    """Summary of data/tokens: documents, tokens, truncation and lengths per split."""
    from doclstm.cli.token_report import print_token_report
    from doclstm.config.workspace import workspace

    params = load_params(params_file_or_shipped(params_file), overrides)
    if not print_token_report(workspace(params).tokens, console, verify):
        raise DoclstmError(
            "some token shards are missing or corrupt; run `doclstm stage tokenize --repair`"
        )


@inspect_app.command("scores")
def inspect_scores(
    folder: Path | None = typer.Argument(
        None, help="a scored folder, or a folder above several; default: score.output"
    ),
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
    as_json: bool = typer.Option(False, "--json", help="print the summaries as JSON"),
) -> None:
    """What scored folders hold: predicted labels, confidence, unscored documents, drift."""

    from doclstm.cli.score_report import print_score_report
    from doclstm.scoring.output_summary import scored_folders, summarize_scores

    params = load_params(params_file_or_shipped(params_file), overrides)
    if folder is None:
        output = params.score.output
        folder = output if output.is_absolute() else params.base.workspace / output
    found = scored_folders(folder)
    if not found:
        raise DoclstmError(f"{folder}: no scored folder here (none has a _done/ folder)")
    summaries = [summarize_scores(f, params.score.drift.confidence) for f in found]
    if as_json:
        print(json.dumps(summaries if len(summaries) > 1 else summaries[0], indent=2))
        return
    for summary in summaries:
        print_score_report(summary, console)
