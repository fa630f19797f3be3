"""Hostile inputs, built here: each lands in quarantine with its reason, nothing is lost,
nothing is written outside the workspace."""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from doclstm.config.params import ValidateParams
from doclstm.errors import DoclstmError
from doclstm.tasks.validate import validate_documents
from tests.archives import add_tar_member, tar_tree
from tests.tasks.test_ingest_sources import ingest, ingested_rows

LEAKED = b"The same review, word for word, filed twice."


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def split_corpus(small_corpus: Path, tmp_path: Path) -> Path:
    """The small corpus in the aclImdb layout: 40 train and 20 test documents per label."""
    root = tmp_path / "split_corpus"
    for label_dir in sorted(small_corpus.iterdir()):
        for i, path in enumerate(sorted(label_dir.iterdir())):
            dest = root / ("train" if i < 40 else "test") / label_dir.name / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    return root


def _hostile_tar(split_corpus: Path, dest: Path) -> Path:
    plain = tar_tree(split_corpus, dest.with_suffix(".tar"), wrapper="corpus")
    with tarfile.open(plain, "a") as archive:
        add_tar_member(archive, "corpus/../evil.txt", b"escaped")
        add_tar_member(archive, "/tmp/doclstm-evil-absolute.txt", b"absolute")
        add_tar_member(
            archive, "corpus/train/tech/link.txt", kind=tarfile.SYMTYPE, link="/etc/passwd"
        )
        add_tar_member(archive, "corpus/train/tech/hard.txt", kind=tarfile.LNKTYPE, link="x")
        add_tar_member(archive, "corpus/train/tech/dev.txt", kind=tarfile.CHRTYPE)
        add_tar_member(archive, "corpus/train/tech/.hidden.txt", b"dotfile")
        add_tar_member(archive, "corpus/train/tech/latin1.txt", "Caf\xe9 \xff".encode("latin-1"))
        add_tar_member(archive, "corpus/train/tech/empty.txt", b"")
        add_tar_member(archive, "corpus/train/tech/blank.txt", b"  \n\t  \n")
        add_tar_member(archive, "corpus/test/weather/sunny.txt", b"Sunny spells all week.")
        add_tar_member(archive, "corpus/train/tech/001.txt", b"A second file under one id.")
        add_tar_member(archive, "corpus/train/sport/leak.txt", LEAKED)
        add_tar_member(archive, "corpus/test/sport/leak.txt", LEAKED)
        add_tar_member(archive, "corpus/train/tech/huge.txt", b"x" * 300_000)
    with plain.open("rb") as raw, lzma.open(dest, "wb") as packed:
        shutil.copyfileobj(raw, packed)
    plain.unlink()
    return dest


def _bomb_zip(dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes/ok.txt", "A fine note about the markets.")
        with archive.open("notes/bomb.txt", "w") as member:  # 50 MB of zeros, ~50 kB packed
            for _ in range(50):
                member.write(bytes(2**20))
        archive.writestr("../zip-evil.txt", "escaped")
        link = zipfile.ZipInfo("notes/link.txt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return dest


def _tables(root: Path) -> tuple[Path, Path]:
    csv_file = root / "broken.csv"
    csv_file.write_bytes(
        b'id,text,label\nc1,"A fine, quoted row",markets\nc2,"broken quote,markets\n'
        b"c3,plain row,markets\nc4,too,many,fields\nc5,Caf\xe9 bytes,markets\n"
    )
    jsonl = root / "broken.jsonl"
    jsonl.write_text('{"id": "j1", "text": "fine"}\n{"id": "j2", "text": \nnot json at all\n[1]\n')
    return csv_file, jsonl


def test_hostile_inputs_are_quarantined_with_reasons_and_nothing_is_lost(
    split_corpus: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    archive = _hostile_tar(split_corpus, inputs / "hostile.tar.xz")
    bomb = _bomb_zip(inputs / "bomb.zip")
    csv_file, jsonl = _tables(inputs)
    before = _files(tmp_path)
    workspace = tmp_path / "ws"
    result = ingest(
        workspace,
        f"ingest.source=[{archive}, {bomb}, {csv_file}, {jsonl}]",
        "ingest.max_document_bytes=200000",
    )

    # Nothing outside the workspace changed; no member escaped anywhere.
    assert _files(tmp_path) - before <= {p for p in _files(tmp_path) if p.startswith("ws")}
    assert not Path("/tmp/doclstm-evil-absolute.txt").exists()
    assert not list(tmp_path.rglob("*evil*"))

    quarantine = pq.read_table(workspace / "data/quarantine/ingest.parquet").to_pylist()
    reasons = {(q["source"].rsplit("/", 1)[-1], q["doc_id"]): q["reason"] for q in quarantine}
    expected = {
        ("hostile.tar.xz", "corpus/../evil.txt"): "unsafe path: '..' component",
        ("hostile.tar.xz", "/tmp/doclstm-evil-absolute.txt"): "unsafe path: absolute",
        ("hostile.tar.xz", "corpus/train/tech/link.txt"): "symlink refused",
        ("hostile.tar.xz", "corpus/train/tech/hard.txt"): "hard link refused",
        ("hostile.tar.xz", "corpus/train/tech/dev.txt"): "device, fifo or socket refused",
        ("hostile.tar.xz", "corpus/train/tech/.hidden.txt"): "hidden or system file",
        ("hostile.tar.xz", "corpus/train/tech/huge.txt"): "document over ingest.max_document",
        ("bomb.zip", "notes/bomb.txt"): "document over ingest.max_document_bytes",
        ("bomb.zip", "../zip-evil.txt"): "unsafe path: '..' component",
        ("bomb.zip", "notes/link.txt"): "symlink refused",
        ("broken.csv", "broken.csv:line3"): "broken.csv line 3: broken CSV record",
        ("broken.csv", "broken.csv:line5"): "broken.csv line 5: 4 fields, the header has 3",
        ("broken.jsonl", "broken.jsonl:line2"): "broken.jsonl line 2: not valid JSON",
        ("broken.jsonl", "broken.jsonl:line3"): "broken.jsonl line 3: not valid JSON",
        ("broken.jsonl", "broken.jsonl:line4"): "broken.jsonl line 4: not a JSON object",
    }
    for key, reason in expected.items():
        assert reasons.get(key, "").startswith(reason), (key, reasons.get(key))
    assert len(quarantine) == len(expected) == result.quarantined
    assert result.seen == result.ingested + result.quarantined

    rows = {(r["source"].rsplit("/", 1)[-1], r["doc_id"]): r for r in ingested_rows(workspace)}
    latin1 = rows[("hostile.tar.xz", "train/tech/latin1.txt")]
    assert latin1["decode_errors"] and "\ufffd" in latin1["text"]
    # The record after the broken quote was read again, not swallowed.
    assert rows[("broken.csv", "c3")]["text"] == "plain row"
    assert rows[("broken.csv", "c5")]["decode_errors"]
    assert rows[("bomb.zip", "notes/ok.txt")]["label"] == "notes"

    checked = validate_documents(
        ValidateParams(failure_budget=1.0, min_class_documents=1),  # a few documents a class
        workspace / "data/ingested",
        workspace / "data/validated",
        workspace / "data/quarantine",
        workspace / "reports/validation",
    )
    rejected = pq.read_table(workspace / "data/quarantine/validate.parquet").to_pylist()
    why = {r["doc_id"]: r["reason"] for r in rejected if r["source"].endswith("hostile.tar.xz")}
    assert why["train/tech/empty.txt"] == "text is empty or whitespace only"
    assert why["train/tech/blank.txt"] == "text is empty or whitespace only"
    assert why["test/weather/sunny.txt"] == "label not among the train labels"
    assert why["train/tech/001.txt"] == "duplicate doc_id"
    assert why["test/sport/leak.txt"].startswith("leakage: same text as a train document")
    assert checked.passed + checked.quarantined == result.ingested


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.xz"])
def test_a_truncated_archive_fails_naming_it_and_writes_nothing(
    split_corpus: Path, tmp_path: Path, suffix: str
) -> None:
    archive = tar_tree(split_corpus, tmp_path / f"corpus{suffix}")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2 + 100])  # cut inside a member's data
    with pytest.raises(DoclstmError, match=r"corpus\.tar.*: not a readable tar archive"):
        ingest(tmp_path / "ws", f"ingest.source={archive}")
    assert not (tmp_path / "ws/data/ingested").exists()
    assert not [p for p in (tmp_path / "ws/data").rglob("*") if p.is_file()]


def test_a_source_over_its_size_limit_refuses_the_rest_but_counts_it(
    split_corpus: Path, tmp_path: Path
) -> None:
    archive = tar_tree(split_corpus, tmp_path / "corpus.tar")
    total = sum(p.stat().st_size for p in split_corpus.rglob("*.txt"))
    result = ingest(
        tmp_path / "ws", f"ingest.source={archive}", f"ingest.max_source_bytes={total // 2}"
    )
    assert result.seen == 300 == result.ingested + result.quarantined
    assert 100 < result.quarantined < 200
    reasons = {
        q["reason"]
        for q in pq.read_table(tmp_path / "ws/data/quarantine/ingest.parquet").to_pylist()
    }
    assert reasons == {"source over ingest.max_source_bytes; the rest of it is refused"}


def test_folder_symlinks_and_fifos_are_refused(split_corpus: Path, tmp_path: Path) -> None:
    os.symlink("/etc/passwd", split_corpus / "train/tech/evil.txt")
    os.symlink(split_corpus / "train", split_corpus / "train/loop")
    os.mkfifo(split_corpus / "train/tech/pipe.txt")
    result = ingest(tmp_path / "ws", f"ingest.source={split_corpus}")
    quarantine = pq.read_table(tmp_path / "ws/data/quarantine/ingest.parquet").to_pylist()
    assert {q["doc_id"]: q["reason"] for q in quarantine} == {
        "train/tech/evil.txt": "symlink refused",
        "train/loop": "symlink refused",
        "train/tech/pipe.txt": "device, fifo or socket refused",
    }
    assert result.ingested == 300
