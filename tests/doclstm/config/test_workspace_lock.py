"""One run per workspace: a second waits or fails clearly, and a killed holder frees it."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from doclstm.config.workspace_lock import workspace_lock
from doclstm.errors import DoclstmError
from doclstm.tasks.table import run_stage
from tests.conftest import tiny_params

HOLD = """
import sys, time
from pathlib import Path
from doclstm.config.workspace_lock import workspace_lock
with workspace_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(workspace: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(workspace), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_fails_clearly_and_a_killed_holder_leaves_no_stale_lock(
    small_corpus: Path, tmp_path: Path
) -> None:
    params = tiny_params(tmp_path, small_corpus)
    holder = _holder(tmp_path, 120)
    try:
        with pytest.raises(
            DoclstmError, match=rf"in use by another doclstm run \(pid {holder.pid}"
        ):
            run_stage("ingest", params)
        assert not (tmp_path / "data/ingested").exists()  # nothing was written
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert run_stage("ingest", params).ingested == 300  # the OS released the lock


def test_a_second_run_can_wait_for_the_first(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 1.0)
    started = time.monotonic()
    with workspace_lock(tmp_path, wait_seconds=60):
        waited = time.monotonic() - started
    holder.wait()
    assert 0.3 < waited < 30


def test_nested_and_threaded_use_in_one_process_does_not_deadlock(tmp_path: Path) -> None:
    """A flow holds the lock while its stages, in Prefect's worker threads, take it again."""
    errors: list[BaseException] = []

    def stage() -> None:
        try:
            with workspace_lock(tmp_path):
                pass
        except BaseException as exc:
            errors.append(exc)

    with workspace_lock(tmp_path):
        stage()
        worker = threading.Thread(target=stage)
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive() and errors == []
