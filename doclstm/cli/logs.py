"""Where the command line's log lines go: the console for plain commands, Prefect's
flow-run logs for commands that run flows."""

from __future__ import annotations

import logging
import os
import sys

from rich.logging import RichHandler

from doclstm.cli.common import log_console

PROJECT_LOGGERS = ("doclstm",)
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def prefect_logging() -> None:
    # Prefect forwards these standard loggers into flow-run logs (and its console). Only
    # for commands that run flows: elsewhere Prefect warns at every line they log.
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", ",".join(PROJECT_LOGGERS))
    for name in PROJECT_LOGGERS:  # Prefect adds handlers to them but keeps the root's level
        logging.getLogger(name).setLevel(logging.INFO)
    quiet_libraries()


def log_to_console() -> None:
    """One line per event, on standard error (standard output is for results): the
    project's loggers write through this handler alone, not also through the handlers
    Prefect's import puts on the root logger."""
    handler: logging.Handler
    if log_console.is_terminal:
        handler = RichHandler(console=log_console, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # a log file: one unwrapped line an event
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        logger.propagate = False
    quiet_libraries()


def quiet_libraries() -> None:
    for name in ("great_expectations", "mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
