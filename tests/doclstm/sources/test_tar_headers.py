"""The fast tar header path parses every header exactly as tarfile does, or defers to it."""

from __future__ import annotations

import io
import tarfile
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from doclstm.sources.archive_members import _EndCheckedTarInfo, _plain_header

ENCODING, ERRORS = "utf-8", "surrogateescape"
TYPES = [
    tarfile.REGTYPE,
    tarfile.AREGTYPE,
    tarfile.DIRTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.FIFOTYPE,
    tarfile.CONTTYPE,
    tarfile.GNUTYPE_SPARSE,
]
names = st.text(st.characters(blacklist_characters="\0"), max_size=160)


def _parsed(cls: type[tarfile.TarInfo], buf: bytes) -> dict[str, Any] | str:
    """Every attribute frombuf sets, or the name of the error it raises."""
    try:
        info = cls.frombuf(buf, ENCODING, ERRORS)
    except tarfile.HeaderError as exc:  # type: ignore[attr-defined]
        return type(exc).__name__
    return {k: getattr(info, k, "<unset>") for k in tarfile.TarInfo.__slots__}


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    """One header block as tarfile writes it, in any of its three formats."""
    info = tarfile.TarInfo(draw(names) + draw(st.sampled_from(["", "/", "//"])))
    info.type = draw(st.sampled_from(TYPES))
    info.linkname = draw(names)
    info.uname, info.gname = draw(names), draw(names)
    info.mode = draw(st.integers(0, 0o7777))
    info.uid, info.gid = draw(st.integers(0, 2**24)), draw(st.integers(0, 2**24))
    info.size = draw(st.integers(0, 2**40))
    info.mtime = draw(st.integers(0, 2**36))
    info.devmajor, info.devminor = draw(st.integers(0, 2**22)), draw(st.integers(0, 2**22))
    fmt = draw(st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]))
    try:
        blocks = info.tobuf(fmt, ENCODING, ERRORS)
    except ValueError:  # too long or too large for ustar
        assume(False)
    # GNU long names and pax records come as headers of their own before the member's.
    return draw(st.sampled_from([blocks[i : i + 512] for i in range(0, len(blocks), 512)]))


@settings(max_examples=400, deadline=None)
@given(headers())
def test_written_headers_parse_exactly_as_tarfile_parses_them(buf: bytes) -> None:
    assert _parsed(_EndCheckedTarInfo, buf) == _parsed(tarfile.TarInfo, buf)


@settings(max_examples=400, deadline=None)
@given(headers(), st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), max_size=4))
def test_damaged_headers_parse_or_fail_exactly_as_tarfile(
    buf: bytes, damage: list[tuple[int, int]]
) -> None:
    block = bytearray(buf)
    for at, value in damage:
        block[at] = value
    assert _parsed(_EndCheckedTarInfo, bytes(block)) == _parsed(tarfile.TarInfo, bytes(block))


def test_the_fast_path_takes_the_common_header_and_leaves_the_rest() -> None:
    """A plain ustar member is parsed here; an end block and a bad checksum are not."""
    block = tarfile.TarInfo("aclImdb/train/unsup/1_0.txt").tobuf(tarfile.USTAR_FORMAT)
    assert _plain_header(tarfile.TarInfo(), block, ENCODING, ERRORS) is not None
    assert _plain_header(tarfile.TarInfo(), bytes(512), ENCODING, ERRORS) is None
    broken = block[:148] + b"0000000\0" + block[156:]
    assert _plain_header(tarfile.TarInfo(), broken, ENCODING, ERRORS) is None


def test_a_header_with_a_bad_checksum_mid_archive_fails_instead_of_ending_it() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for i in range(3):
            info = tarfile.TarInfo(f"doc{i}.txt")
            info.size = 5
            archive.addfile(info, io.BytesIO(b"hello"))
    data = bytearray(buffer.getvalue())
    data[1024 + 148] ^= 1  # the second member's checksum field
    stream = io.BytesIO(bytes(data))
    with tarfile.open(fileobj=stream, mode="r|", tarinfo=_EndCheckedTarInfo) as archive:
        first = archive.next()
        assert first is not None and first.name == "doc0.txt"
        try:
            archive.next()
        except tarfile.ReadError as exc:
            assert "end marker" in str(exc)
        else:
            raise AssertionError("a broken header ended the archive quietly")
