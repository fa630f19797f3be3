"""The `doclstm` command line: the whole pipeline, single stages, and scoring.

    doclstm run                      the Prefect flow: train pipeline, then score
    doclstm nightly                  retrain if data or params changed; score on promotion
    doclstm stage NAME               one stage as a plain function (what dvc.yaml runs)
    doclstm tune                     search train.* settings on val; write params.tuned.yaml
    doclstm score --model M --input SRC --output DIR
    doclstm predict "some text" ...  classify texts, files (--file) or stdin; --json
    doclstm promote VERSION --reason TEXT   make a version champion by hand
    doclstm rollback --reason TEXT          champion back to the previous champion
    doclstm models                   registered versions, aliases, decisions, champion history
    doclstm inspect tokens           the tokenize manifest: splits, truncation, lengths
    doclstm inspect scores [FOLDER]  scored folders: labels, confidence, unscored, drift

Every command takes `--params params.yaml` and repeatable `--set key=value`.
Problems a user can fix print as one line, without a traceback (exit 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from doclstm.cli.common import (
    HELP,
    JsonOption,
    ParamsFileOption,
    SetOption,
    console,
    params_file_or_shipped,
    readable_metavars,
    registry_of,
)
from doclstm.cli.logs import log_to_console, prefect_logging
from doclstm.cli.query_commands import inspect_app, models, predict
from doclstm.cli.results import print_result
from doclstm.cli.run_summary import drift_cell, run_table
from doclstm.cli.tune_command import tune
from doclstm.cli.ui_commands import ui_app
from doclstm.config.params import Params, load_params
from doclstm.errors import DoclstmError
from doclstm.tasks.table import TRAINING_STAGES

app = typer.Typer(
    rich_markup_mode="markdown",  # docstring lines joined, `code` shown as code
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=HELP,
    help="Recurrent document classifiers as a batch pipeline.",
)
QUIET_ENVIRONMENT = {
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # MLflow sets its own loggers' level as it is imported: its INFO lines (creating and
    # upgrading the SQLite store's tables) would otherwise land between the stages' lines.
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        print(f"doclstm {version('doclstm')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        metavar="",
        help="print the version",
    ),
) -> None:
    """Recurrent document classifiers as a batch pipeline."""


@app.command()
def run(
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
    as_json: bool = JsonOption,
) -> None:
    """Run the training pipeline flow, then score `score.input` with the champion the gate
    leaves (the new model when it was promoted)."""
    params = load_params(params_file_or_shipped(params_file), overrides)
    prefect_logging()
    from doclstm.flows.training import pipeline_then_score

    result = pipeline_then_score(params)
    if as_json:
        print_result(result, True, console)
    else:
        console.print(run_table(result, params))
    if result.score is None:  # the gate rejected the first model: the table says why
        raise DoclstmError(result.not_scored)


@app.command()
def nightly(
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
    as_json: bool = JsonOption,
) -> None:
    """The nightly_retrain flow once: skip when nothing changed since the champion."""
    # A bad params file fails here, in one line.
    params = load_params(params_file_or_shipped(params_file), overrides)
    prefect_logging()
    from doclstm.flows.nightly import nightly_retrain

    result = nightly_retrain(params)
    if as_json:
        print_result(result, True, console)
    else:
        console.print(result.markdown(), highlight=False)


@app.command()
def promote(
    version: str = typer.Argument(..., help="the model version to make champion"),
    reason: str = typer.Option(..., help="why; recorded on the version and in Prefect"),
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
) -> None:
    """Make VERSION of `register.model_name` the champion, bypassing the gate; its files are
    still verified first."""
    from doclstm.registry.model_registry import manual_actor

    params = load_params(params_file_or_shipped(params_file), overrides)
    registry = registry_of(params)
    registry.version_tags(version)  # an unknown version fails here, by name
    _verify_registered(params, registry, version)
    _record_decision(registry.name, registry.promote(version, reason, manual_actor()))


@app.command()
def rollback(
    reason: str = typer.Option(..., help="why; recorded on both versions and in Prefect"),
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
) -> None:
    """Put the previous champion back (the one the current champion replaced)."""
    from doclstm.registry.model_registry import manual_actor

    params = load_params(params_file_or_shipped(params_file), overrides)
    registry = registry_of(params)
    registry.finish_pending_change()  # the champion history must be whole to read it
    _verify_registered(params, registry, registry.previous_champion())
    _record_decision(registry.name, registry.rollback(reason, manual_actor()))


@app.command()
def stage(
    name: str = typer.Argument(..., help=", ".join(stage.name for stage in TRAINING_STAGES)),
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
    repair: bool = typer.Option(
        False, help="tokenize: write missing or corrupt shards again, nothing else"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run one stage as a plain function (no Prefect): what dvc.yaml calls."""
    from doclstm.tasks.table import run_stage

    params = load_params(params_file_or_shipped(params_file), overrides)
    log_to_console()
    result = run_stage(name, params, repair=repair)
    print_result(result, as_json, console)


@app.command()
def score(
    model: str = typer.Option(
        "",
        help="`models:/<name>/<version>`, `models:/<name>@<alias>` or a "
        "model folder; default score.model",
    ),
    input_source: str = typer.Option(
        "", "--input", help="a folder, archive or table; default score.input"
    ),
    output: str = typer.Option("", help="output folder; default score.output"),
    force: bool = typer.Option(False, help="discard existing outputs and score everything again"),
    runner: str = typer.Option(
        "",
        help="inline (one process), threads or ray (input shards as parallel Prefect "
        "tasks); default score.runner",
    ),
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
    as_json: bool = JsonOption,
) -> None:
    """Score every document of a source, exactly once per output folder (resumable)."""
    given = {
        "score.model": model,
        "score.input": input_source,
        "score.output": output,
        "score.runner": runner,
    }
    given_settings = [f"{k}={v}" for k, v in given.items() if v]
    params = load_params(params_file_or_shipped(params_file), [*overrides, *given_settings])
    inline = params.score.runner == "inline"
    if inline:
        log_to_console()
    else:  # a Prefect flow scores the shards: their lines go to its task runs' logs
        prefect_logging()
    from doclstm.config.workspace_lock import workspace_lock
    from doclstm.tasks.score import score_documents  # plain Python: no Prefect to import
    from doclstm.tasks.table import score_arguments

    with workspace_lock(params.base.workspace, params.base.lock_wait_seconds):
        # The drift metrics go to MLflow from a detached process: importing MLflow here
        # would take longer than scoring a handful of documents.
        arguments = score_arguments(params, force, metrics_in_background=True)
        if inline:
            result = score_documents(**arguments.as_kwargs())
        else:
            from doclstm.flows.score import score_in_shards

            result = score_in_shards(arguments)
        print_result(result, as_json, console)
        if not as_json:
            console.print(f"drift: {drift_cell(result)}")


app.command()(predict)
app.command()(tune)
app.command()(models)
app.add_typer(inspect_app, name="inspect")
app.add_typer(ui_app, name="ui")
readable_metavars(app)


def main() -> None:
    prefect_environment()
    try:
        app()
    except DoclstmError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


def _verify_registered(params: Params, registry: Any, version: str) -> None:
    """Download `version` into the model cache, checked against its manifest (one line
    naming the damaged file, if any): a damaged version never becomes champion."""
    from doclstm.config.workspace import workspace
    from doclstm.scoring.model_ref import resolve_model

    reference = f"models:/{registry.name}/{version}"
    resolve_model(reference, registry.tracking_uri, workspace(params).model_cache)


def _record_decision(model_name: str, decision: Any) -> None:
    """Print the decision, then publish it to Prefect like the gate's."""
    console.print(decision.markdown(model_name), highlight=False)
    prefect_logging()
    from doclstm.flows.registry import record_decision

    record_decision(
        decision.markdown(model_name),
        f"{model_name} version {decision.version}: {decision.decision}",
    )


def prefect_environment() -> None:
    """Server defaults for any Prefect flow this process runs; Prefect reads them when it
    is first imported, so call this before. A setting already in the environment wins."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The opt-outs the Makefile sets, set by the command itself, so that a user who runs
    # `doclstm` directly sees no telemetry banner and no download progress bars either.
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    # With no PREFECT_API_URL a flow starts a temporary server and, by default, gives up
    # on it after 20 s; on a busy 2-core machine it took longer (twice in one CI run).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
