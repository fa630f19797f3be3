"""The manifest beside every stage output: fingerprint, files with checksums, summary.

A stage is fresh, and is skipped, when its manifest carries the fingerprint
of the current inputs and params and every file it lists still has the
recorded sha256. Readers verify the checksum of what they read.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from doclstm.errors import DoclstmError
from doclstm.storage.atomic import clear_leftovers, write_json
from doclstm.storage.code_digest import code_digest
from doclstm.storage.fingerprint import sha256_file, sha256_json

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    bytes: int
    rows: int | None = None
    tokens: int | None = None  # token shards: real tokens in the shard


@dataclass(frozen=True)
class StageManifest:
    stage: str
    fingerprint: str
    files: dict[str, FileEntry]
    summary: dict[str, Any] = field(default_factory=dict)

    def write(self, out_dir: Path, name: str = MANIFEST_NAME) -> Path:
        dest = out_dir / name
        write_json(dest, asdict(self))
        return dest

    @classmethod
    def load(cls, out_dir: Path, name: str = MANIFEST_NAME) -> StageManifest:
        path = out_dir / name
        if not path.is_file():
            raise DoclstmError(f"{path}: missing; run the stage that writes {out_dir} first")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            files = {name: FileEntry(**entry) for name, entry in raw["files"].items()}
            return cls(raw["stage"], raw["fingerprint"], files, raw.get("summary", {}))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DoclstmError(f"{path}: unreadable manifest ({exc}); rerun the stage") from exc

    def problems(self, out_dir: Path) -> list[str]:
        """Files that are missing or whose bytes no longer match the recorded checksum."""
        return [f"{out_dir / name}: {why}" for name, why in self.broken_files(out_dir).items()]

    def broken_files(self, out_dir: Path) -> dict[str, str]:
        """Listed file name -> what is wrong with it, for every file that does not verify."""
        found = {}
        for name, entry in self.files.items():
            path = out_dir / name
            if not path.is_file():
                found[name] = "missing"
            elif sha256_file(path) != entry.sha256:
                found[name] = "checksum mismatch (corrupt or modified)"
        return found

    def require_intact(self, out_dir: Path, remedy: str) -> None:
        """Fail, naming the first file that is missing or does not verify, and `remedy`."""
        broken = self.broken_files(out_dir)
        if broken:
            name, why = next(iter(broken.items()))
            more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
            raise DoclstmError(f"{out_dir / name}: {why}{more}; {remedy}")

    def verified_file(self, out_dir: Path, name: str) -> Path:
        """The path of one listed file, after checking its checksum."""
        entry = self.files.get(name)
        path = out_dir / name
        if entry is None:
            raise DoclstmError(f"{path}: not listed in {out_dir / MANIFEST_NAME}; rerun the stage")
        if not path.is_file():
            raise DoclstmError(f"{path}: missing; rerun the stage that writes it")
        if sha256_file(path) != entry.sha256:
            raise DoclstmError(
                f"{path}: checksum mismatch (corrupt or modified); rerun the stage that writes it"
            )
        return path


def outside_name(path: Path, out_dir: Path) -> str:
    """The manifest key of a file kept outside `out_dir` (e.g. ../quarantine/x.parquet)."""
    return Path(os.path.relpath(path, out_dir)).as_posix()


def file_entry(path: Path, rows: int | None = None, tokens: int | None = None) -> FileEntry:
    return FileEntry(sha256_file(path), path.stat().st_size, rows, tokens)


def fresh_manifest(
    out_dir: Path, fingerprint: str, name: str = MANIFEST_NAME
) -> StageManifest | None:
    """The existing manifest if it matches `fingerprint` and all its files verify."""
    if not (out_dir / name).is_file():
        return None
    try:
        manifest = StageManifest.load(out_dir, name)
    except DoclstmError:
        return None
    if manifest.fingerprint != fingerprint or manifest.problems(out_dir):
        return None
    clear_leftovers(out_dir)  # a writer killed after its rename left its old copy beside it
    return manifest


def stage_fingerprint(
    stage: str, module: str, params: BaseModel | dict[str, Any], **inputs: Any
) -> str:
    """What a stage's output depends on: its name, its code (the digest of `module`, the
    one that computes it, and of what it imports: doclstm/storage/code_digest.py), its
    params and its inputs."""
    settings = params if isinstance(params, dict) else params.model_dump(mode="json")
    return sha256_json({"stage": stage, "code": code_digest(module), "params": settings, **inputs})
