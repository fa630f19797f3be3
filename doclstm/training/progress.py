"""A training progress bar with real tokens/s, shown only on a terminal.

Off a terminal (Prefect, DVC, CI logs) nothing is drawn; the trainer's
per-epoch log line carries the same figures.
"""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)


class EpochProgress:
    def __init__(self, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[tokens_per_second]:>9,.0f} tok/s"),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not (enabled and console.is_terminal and sys.stderr.isatty()),
        )
        self._task: TaskID | None = None

    def __enter__(self) -> EpochProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(
            f"epoch {epoch}/{epochs}", total=total, completed=done, tokens_per_second=0.0, loss=0.0
        )

    def update(self, done: int, tokens_per_second: float, loss: float) -> None:
        if self._task is not None:
            self._progress.update(
                self._task, completed=done, tokens_per_second=tokens_per_second, loss=loss
            )
