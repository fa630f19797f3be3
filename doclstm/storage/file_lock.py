"""An exclusive OS lock on a file (`flock`), held for a block, naming its holder when busy.

The OS drops the lock when its holder exits, even by SIGKILL, so a crashed
run never leaves a stale lock behind. The holder (pid, host, command, since)
is written into the file so that a refused caller can say who has it.
Taking a lock again inside the process that holds it is a no-op. On a folder
shared over NFSv4 the Linux client turns `flock` into a lock the server
keeps, so processes on different machines exclude each other too.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from doclstm.errors import DoclstmError

_POLL_SECONDS = 0.2
_held: dict[Path, int] = {}  # lock path -> nesting depth, for this process
_guard = threading.Lock()


@contextmanager
def exclusive_lock(path: Path, wait_seconds: float, busy: str, wait_setting: str) -> Iterator[None]:
    """Hold `path`'s lock for the block. When another process has it, wait up to
    `wait_seconds`, then fail with `busy`, the holder, and the setting that waits longer."""
    path = path.resolve()
    with _guard:
        nested = path in _held
        if nested:
            _held[path] += 1
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
        _acquire(fd, path, wait_seconds, busy, wait_setting)
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


def _acquire(fd: int, path: Path, wait_seconds: float, busy: str, wait_setting: str) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise DoclstmError(
                    f"{busy} ({_describe(path)}); wait for it to finish, or set "
                    f"{wait_setting} to wait for it"
                ) from None
            time.sleep(_POLL_SECONDS)


def _holder() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv)[:300],
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _describe(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        host = f" on {holder['host']}" if "host" in holder else ""
        return f"pid {holder['pid']}{host}, `{holder['command']}`, since {holder['since']}"
    except (OSError, ValueError, KeyError):
        return "holder unknown"
