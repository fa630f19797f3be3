"""Progress bars for training and scoring, drawn only on a terminal.

Off a terminal (Prefect workers, DVC, CI logs) nothing is drawn: the trainer's
per-epoch line and the scorer's per-shard line carry the same figures. On one, the
bar sits at the bottom and every log line prints above it, whole: while a bar is
shown, the logging handlers that write to the terminal (doclstm's own and Prefect's
console handler) are pointed at rich's stand-in for standard error, which prints a
line above the bar instead of into it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

REFRESH_SECONDS = 0.5  # how often the trainer reads its loss off the device for the bar
LOGGERS = ("", "doclstm", "prefect")
_inner_bars = [True]  # False while an outer bar (tune's trials) owns the terminal


@contextmanager
def inner_bars_off() -> Iterator[None]:
    """Within the block no training or scoring bar is drawn: rich shows one live display
    at a time, and `doclstm tune`'s bar of trials is the one to see."""
    _inner_bars.append(False)
    try:
        yield
    finally:
        _inner_bars.pop()


class _Bar:
    """A rich Progress on standard error, or nothing off a terminal."""

    def __init__(self, enabled: bool, *columns: str | ProgressColumn) -> None:
        self._console = Console(stderr=True)
        terminal = self._console.is_terminal and sys.stderr.isatty()
        self.enabled = enabled and terminal and _inner_bars[-1]
        self._progress = Progress(
            *columns, console=self._console, transient=True, disable=not self.enabled
        )
        self._task: TaskID | None = None
        self._routing: Any = None

    def __enter__(self) -> Self:
        self._progress.start()
        if self.enabled:  # sys.stderr is now rich's proxy: log lines go above the bar
            self._routing = _handlers_through(sys.stderr)
            self._routing.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._routing is not None:
            self._routing.__exit__(exc_type, exc, tb)
            self._routing = None
        self._progress.stop()


class EpochProgress(_Bar):
    """Steps of the epoch, real tokens/s, the running loss, the time left."""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__(
            enabled,
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[loss]}"),
            TimeRemainingColumn(),
        )

    def start_epoch(self, epoch: int, epochs: int, total: int, done: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(
            f"epoch {epoch}/{epochs}", total=total, completed=done, rate="", loss=""
        )

    def update(self, done: int, tokens_per_second: float, loss: float) -> None:
        if self._task is not None:
            self._progress.update(
                self._task,
                completed=done,
                rate=f"{tokens_per_second:>9,.0f} tok/s",
                loss=f"loss {loss:.4f}",
            )


class ScoreProgress(_Bar):
    """Documents scored, documents/s, and the time left when the total is known."""

    def __init__(self, total: int | None, enabled: bool = True) -> None:
        super().__init__(
            enabled,
            TextColumn("[bold]scoring"),
            BarColumn(),
            MofNCompleteColumn() if total else TextColumn("{task.completed:,} documents"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self._task = self._progress.add_task("scoring", total=total, rate="")
        self._started = time.perf_counter()
        self._scored = 0  # by this run; documents of shards complete before it are not

    def advance(self, documents: int, scored: bool = True) -> None:
        """`documents` more done; `scored` False for those a resumed run skips."""
        assert self._task is not None  # added in __init__
        self._scored += documents if scored else 0
        seconds = max(time.perf_counter() - self._started, 1e-9)
        self._progress.update(
            self._task, advance=documents, rate=f"{self._scored / seconds:>7,.0f} docs/s"
        )


class TrialProgress(_Bar):
    """`doclstm tune`: trials done of the budget, the best val so far, the time left."""

    def __init__(self, total: int, done: int, deadline: float | None) -> None:
        super().__init__(
            True,
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
        )
        self._deadline = deadline  # a time.monotonic() reading: tune.timeout's end
        self._task = self._progress.add_task("trials", total=total, completed=done, best="")
        self._progress.update(self._task, left=self._left())

    def update(self, done: int, best: str) -> None:
        assert self._task is not None  # added in __init__
        self._progress.update(self._task, completed=done, best=best, left=self._left())

    def _left(self) -> str:
        if self._deadline is None:
            return ""
        seconds = max(0, int(self._deadline - time.monotonic()))
        return f"{seconds // 60}:{seconds % 60:02d} left"


def due(last: float) -> bool:
    """Whether REFRESH_SECONDS have passed since `last` (a perf_counter reading)."""
    return time.perf_counter() - last >= REFRESH_SECONDS


@contextmanager
def _handlers_through(stream: Any) -> Iterator[None]:
    """Point every handler that writes to the real standard error at `stream` for the
    block: logging's StreamHandlers by their stream, Prefect's console handler by its
    rich console's file."""
    real = sys.__stderr__
    changed: list[tuple[Any, str, Any]] = []
    for name in LOGGERS:
        for handler in logging.getLogger(name).handlers:
            console = getattr(handler, "console", None)
            if isinstance(console, Console) and console.file is real:
                changed.append((console, "file", real))
                console.file = stream
            elif isinstance(handler, logging.StreamHandler) and handler.stream is real:
                changed.append((handler, "stream", real))
                handler.setStream(stream)
    try:
        yield
    finally:
        for owner, attribute, value in changed:
            if attribute == "stream":
                owner.setStream(value)
            else:
                setattr(owner, attribute, value)
