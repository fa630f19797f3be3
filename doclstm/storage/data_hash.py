"""The DVC hash of a source: what `dvc add` would write in its .dvc file.

A file hashes to its md5; a folder to DVC's `<md5>.dir` of the sorted
(relative path, md5) list. Computed with DVC's own `dvc_data` so the value
matches `dvc add`, `dvc.lock` and a DVC remote byte for byte. Hashes are kept
in a state database keyed by inode, size and mtime (DVC's own `State`), so an
unchanged multi-gigabyte archive is hashed once, not every night.
"""

from __future__ import annotations

from pathlib import Path

from dvc_data.hashfile.build import build
from dvc_data.hashfile.db import HashFileDB
from dvc_data.hashfile.state import State
from dvc_objects.fs.local import LocalFileSystem


def dvc_md5(path: Path, state_dir: Path) -> str:
    """DVC's md5 of the file or folder at `path`; `state_dir` keeps hashes between calls."""
    fs = LocalFileSystem()
    state_dir.mkdir(parents=True, exist_ok=True)
    state = State(str(path.parent.resolve()), str(state_dir))
    try:
        odb = HashFileDB(fs, str(state_dir / "staging"))
        _, _, obj = build(odb, str(path.resolve()), fs, "md5", dry_run=True, state=state)
    finally:
        state.close()
    value = obj.hash_info.value
    assert value, f"dvc_data returned no hash for {path}"
    return str(value)
