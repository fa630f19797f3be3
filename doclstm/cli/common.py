"""What every `doclstm` command shares: the console, the params options, the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from doclstm.pipeline.params import Params

HELP = {"help_option_names": ["-h", "--help"]}
console = Console()
ParamsOption = typer.Option(Path("params.yaml"), "--params", "-p", help="params file")
ParamsFileOption = typer.Option(
    None,
    "--params",
    "-p",
    help="params file; default ./params.yaml, or the shipped defaults where there is none",
)
SetOption = typer.Option([], "--set", "-s", help="override, e.g. train.epochs=3")


def params_file_or_shipped(params_file: Path | None) -> Path | None:
    """`params_file`, else ./params.yaml where there is one, else None: the shipped
    defaults, so a command that needs only its arguments runs from any folder."""
    if params_file is None and Path("params.yaml").is_file():
        return Path("params.yaml")
    return params_file


def registry_of(params: Params) -> Any:
    """The registry of `register.model_name` in the configured MLflow store."""
    from doclstm.pipeline.stages import workspace
    from doclstm.pipeline.tracking import tracking_uri
    from doclstm.registry.model_registry import Registry

    uri = tracking_uri(params.register_.tracking_uri, workspace(params).mlflow)
    return Registry(uri, params.register_.model_name)
