"""One pipeline at a time per workspace: an OS file lock on `<workspace>/.doclstm.lock`.

Every entry point that writes to a workspace (`doclstm stage`, so also
`dvc repro`; the training and scoring flows; `doclstm score`) takes it. A
second run on the same workspace waits up to `base.lock_wait_seconds`, then
fails with a message naming the holder, rather than interleave writes with
the first. The lock is `flock`: the OS drops it when the holder exits, even
by SIGKILL, so a crashed run never leaves a stale lock behind. Taking it
again inside the same process (a flow calling stages) is a no-op.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from doclstm.errors import DoclstmError

LOCK_NAME = ".doclstm.lock"
_POLL_SECONDS = 0.2
_held: dict[Path, int] = {}  # lock path -> nesting depth, for this process
_guard = threading.Lock()


@contextmanager
def workspace_lock(root: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    path = (root / LOCK_NAME).resolve()
    with _guard:
        if path in _held:
            _held[path] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, wait_seconds)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder()).encode())
        with _guard:
            _held[path] = 1
        try:
            yield
        finally:
            with _guard:
                del _held[path]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise DoclstmError(
                    f"workspace {path.parent} is in use by another doclstm run "
                    f"({_describe(path)}); wait for it to finish, or set "
                    "base.lock_wait_seconds to wait for it"
                ) from None
            time.sleep(_POLL_SECONDS)


def _holder() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "command": " ".join(sys.argv)[:300],
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _describe(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {holder['pid']}, `{holder['command']}`, since {holder['since']}"
    except (OSError, ValueError, KeyError):
        return "holder unknown"
