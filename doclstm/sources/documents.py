"""A document as a source yields it, and how its bytes become valid text.

Every reader (folder, archive, table) yields `RawDocument`s: the id, the
raw bytes or text, what the source says of its label (or labels) and split,
or the reason it was refused. `decode_text` makes valid NFC-normalised UTF-8 of the
bytes; undecodable bytes, and NUL bytes (binary data, or UTF-16 read as
UTF-8), are replaced with U+FFFD and flagged, never dropped.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class RawDocument:
    """One document as found in the source, or the reason it cannot be used."""

    doc_id: str
    data: bytes | str
    label: str | None
    source_split: str | None
    refused: str | None = None
    # Several labels (a list cell, or a cell split on the source's label_separator);
    # `label` is then None. An empty tuple is a labelled document with no label.
    labels: tuple[str, ...] | None = None

    @property
    def labelled(self) -> bool:
        return self.label is not None or self.labels is not None


@dataclass(frozen=True)
class DecodedText:
    text: str
    decode_errors: bool


def refused(doc_id: str, reason: str, data: bytes | str = b"") -> RawDocument:
    return RawDocument(doc_id, data, None, None, refused=reason)


def decode_text(data: bytes | str) -> DecodedText:
    """Valid, NFC-normalised UTF-8 text; undecodable bytes are replaced and flagged.

    Text read with `surrogateescape` (CSV) carries its bad bytes as lone
    surrogates; they are turned back into bytes and replaced the same way.
    """
    errors = False
    if isinstance(data, str):
        try:
            data.encode("utf-8")
            text = data
        except UnicodeEncodeError:  # lone surrogates: escaped bytes, or broken \ud8xx escapes
            data = _surrogates_to_bytes(data)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            errors = True
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
        errors = True
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return DecodedText(text, errors)


def _surrogates_to_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogatepass")
