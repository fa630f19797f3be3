"""What every `doclstm` command shares: the console, the params options, the registry."""

from __future__ import annotations

import inspect
import os
import typing
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.models import ArgumentInfo, OptionInfo

from doclstm.config.params import Params

HELP = {"help_option_names": ["-h", "--help"]}
LOG_WIDTH = 200  # columns of a table or line written to a file or a pipe, not a terminal


def _console(stderr: bool) -> Console:
    """A console that wraps at the terminal's width, and not at rich's default 80 columns
    in a log file or a pipe, where a wrapped table splits the commands in it."""
    made = Console(stderr=stderr)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made.width = LOG_WIDTH
    return made


console = _console(stderr=False)  # results, on standard output
log_console = _console(stderr=True)  # log lines and progress bars
JsonOption = typer.Option(False, "--json", help="print the result as JSON on standard output")
ParamsFileOption = typer.Option(
    None,
    "--params",
    "-p",
    help="params file; default ./params.yaml, or the shipped defaults where there is none",
)
SetOption = typer.Option(
    [], "--set", "-s", metavar="KEY=VALUE", help="override, e.g. train.epochs=3"
)


def params_file_or_shipped(params_file: Path | None) -> Path | None:
    """`params_file`, else ./params.yaml where there is one, else None: the shipped
    defaults, so a command that needs only its arguments runs from any folder."""
    if params_file is None and Path("params.yaml").is_file():
        return Path("params.yaml")
    return params_file


def registry_of(params: Params) -> Any:
    """The registry of `register.model_name` in the configured MLflow store."""
    from doclstm.config.tracking import tracking_uri
    from doclstm.config.workspace import workspace
    from doclstm.registry.model_registry import Registry

    uri = tracking_uri(params.register_.tracking_uri, workspace(params).mlflow)
    return Registry(uri, params.register_.model_name)


METAVARS = {bool: "", int: "N", float: "X", str: "TEXT", Path: "PATH"}


def readable_metavars(app: typer.Typer) -> None:
    """Name each option's value in `--help` as people write it (`--set KEY=VALUE`,
    `--params PATH`, nothing after a flag) instead of typer's Python types
    (`<list[str]>`, `<bool>`), and each argument by its name; one that names its own
    metavar keeps it."""
    for command in app.registered_commands:
        if command.callback is None:
            continue
        hints = typing.get_type_hints(command.callback)
        for parameter in inspect.signature(command.callback).parameters.values():
            info = parameter.default
            if isinstance(info, ArgumentInfo) and info.metavar is None:  # its name: TEXTS
                info.metavar = parameter.name.upper()
            if not isinstance(info, OptionInfo) or info.metavar is not None:
                continue
            annotation = hints[parameter.name]  # list[str] -> str, Path | None -> Path
            inner = [a for a in typing.get_args(annotation) if a is not type(None)]
            info.metavar = METAVARS.get(inner[0] if inner else annotation, "VALUE")
    for group in app.registered_groups:
        if group.typer_instance is not None:
            readable_metavars(group.typer_instance)
