"""Write-then-rename, so a crash never leaves a half-written file that looks whole.

A crash does leave the temporary (`.<name>.<random>.tmp`, or the previous
output set aside as `.<name>.<random>.old`); the next writer of the same
folder or table clears them (`clear_leftovers`). One writer per destination
at a time is the callers' rule (the workspace and score-output locks).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `dest`; rename it onto `dest` if the block succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def clear_leftovers(dest: Path) -> None:
    """Remove the temporaries a killed writer of `dest` left beside it."""
    for pattern in (f".{dest.name}.*.tmp", f".{dest.name}.*.old"):
        for stale in dest.parent.glob(pattern):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


@contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder that replaces `dest` whole if the block succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    clear_leftovers(dest)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        old = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.old")
        if dest.exists():
            os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(dest: Path, data: Any) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
