"""`doclstm tune`: the search of doclstm/tuning/search.py, its table printed."""

from __future__ import annotations

from pathlib import Path

import typer

from doclstm.cli.common import (
    JsonOption,
    ParamsFileOption,
    SetOption,
    console,
    params_file_or_shipped,
)
from doclstm.cli.logs import log_to_console
from doclstm.cli.results import print_result
from doclstm.config.params import load_params


def tune(
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
    as_json: bool = JsonOption,
) -> None:
    """Search the train.* settings of `tune.space` with Optuna, each trial judged on val
    by `train.monitor`; write the best as `tune.output`, a params file over this one.
    A killed or interrupted search goes on where it stopped when run again."""
    from rich.markdown import Markdown

    from doclstm.tuning.search import tune_settings

    base_file = params_file_or_shipped(params_file)
    params = load_params(base_file, overrides)
    log_to_console()
    result = tune_settings(params, base_file)
    if as_json:
        print_result(result, True, console)
    else:
        console.print(Markdown(result.markdown()))
    if result.interrupted:
        raise typer.Exit(130)
