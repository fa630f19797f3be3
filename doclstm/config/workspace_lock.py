"""One pipeline at a time per workspace: an OS file lock on `<workspace>/.doclstm.lock`.

Every entry point that writes to a workspace (`doclstm stage`, so also
`dvc repro`; the training and scoring flows; `doclstm score`) takes it. A
second run on the same workspace waits up to `base.lock_wait_seconds`, then
fails with a message naming the holder, rather than interleave writes with
the first. The lock is `flock` (doclstm/storage/file_lock.py): released when the
holder exits, even by SIGKILL. Taking it again inside the same process (a
flow calling stages) is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from doclstm.storage.file_lock import exclusive_lock

LOCK_NAME = ".doclstm.lock"


@contextmanager
def workspace_lock(root: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    busy = f"workspace {root.resolve()} is in use by another doclstm run"
    with exclusive_lock(root / LOCK_NAME, wait_seconds, busy, "base.lock_wait_seconds"):
        yield
