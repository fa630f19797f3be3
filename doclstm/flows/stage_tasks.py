"""The Prefect task of each stage, made once from its row of the stage table.

A stage module holds only its plain function (doclstm/tasks/table.py lists them); the
flows run each through the task made here, named as the stage, with the row's tags and
retries: transient I/O failures retried with backoff (`retry_policy`), never bad data.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from prefect import Task, task

from doclstm.flows.retry_policy import io_retry_options
from doclstm.tasks.table import stage


@cache
def stage_task(name: str) -> Task[..., Any]:
    """The Prefect task that runs stage `name`'s plain function."""
    row = stage(name)
    options: dict[str, Any] = io_retry_options() if row.retries else {"retries": 0}
    made: Task[..., Any] = task(name=row.name, tags=list(row.tags), **options)(row.load())
    return made
