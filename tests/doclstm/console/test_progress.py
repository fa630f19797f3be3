import io
import logging
import sys

from rich.console import Console

from doclstm.console.progress import ScoreProgress, _handlers_through


class _ConsoleHandler(logging.Handler):
    """As Prefect's console handler writes: through a rich console of its own."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.print(self.format(record))


def test_log_lines_go_through_the_bars_stream_while_it_is_shown_and_back_after() -> None:
    """A handler that writes to the real stderr (doclstm's off a terminal, Prefect's
    console) would write into the bar's line; while a bar is shown it writes above it."""
    logger = logging.getLogger("doclstm.progress_test")
    plain = logging.StreamHandler(sys.__stderr__)
    prefect_like = _ConsoleHandler(Console(file=sys.__stderr__))
    elsewhere = logging.StreamHandler(io.StringIO())  # a log file: left alone
    for handler in (plain, prefect_like, elsewhere):
        logging.getLogger("doclstm").addHandler(handler)
    proxy = io.StringIO()
    try:
        with _handlers_through(proxy):
            assert plain.stream is proxy
            assert prefect_like.console.file is proxy
            assert elsewhere.stream is not proxy
            logger.warning("above the bar")
        assert plain.stream is sys.__stderr__
        assert prefect_like.console.file is sys.__stderr__
    finally:
        for handler in (plain, prefect_like, elsewhere):
            logging.getLogger("doclstm").removeHandler(handler)
    assert "above the bar" in proxy.getvalue()


def test_the_score_bar_counts_every_document_and_rates_only_those_scored() -> None:
    bar = ScoreProgress(total=10, enabled=False)
    with bar:
        bar.advance(4, scored=False)  # a shard complete before this run
        bar.advance(6)
    task = bar._progress.tasks[0]
    assert (task.completed, task.total) == (10, 10)
    assert bar._scored == 6
