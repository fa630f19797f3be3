"""Archives and tables built inside the tests from real documents (nothing binary committed)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path


def tar_tree(src: Path, dest: Path, wrapper: str = "corpus") -> Path:
    """Pack every file under `src` as `<wrapper>/<relative path>`; mode from the suffix."""
    mode = {".gz": "w:gz", ".xz": "w:xz", ".tar": "w"}[dest.suffix]
    with tarfile.open(dest, mode) as archive:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=f"{wrapper}/{path.relative_to(src).as_posix()}")
    return dest


def zip_tree(src: Path, dest: Path, wrapper: str = "corpus") -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                archive.write(path, f"{wrapper}/{path.relative_to(src).as_posix()}")
    return dest


def add_tar_member(
    archive: tarfile.TarFile,
    name: str,
    data: bytes = b"",
    kind: bytes = tarfile.REGTYPE,
    link: str = "",
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def tar_members(dest: Path, members: dict[str, bytes]) -> Path:
    """A .tar.gz of `members` (name: bytes), regular files each."""
    with tarfile.open(dest, "w:gz") as archive:
        for name, data in members.items():
            add_tar_member(archive, name, data)
    return dest
