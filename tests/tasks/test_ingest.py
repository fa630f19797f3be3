import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from doclstm.storage.manifest import StageManifest
from doclstm.tasks.ingest import ingest_documents
from tests.conftest import DOCS_PER_LABEL, tiny_params


def _ingest(corpus: Path, workspace: Path):
    params = tiny_params(workspace, corpus)
    ws = workspace
    return ingest_documents(params.ingest, ws, ws / "data/ingested", ws / "data/quarantine")


def _rows(workspace: Path) -> list[dict]:
    out = workspace / "data/ingested"
    manifest = StageManifest.load(out)
    return [r for name in sorted(manifest.files) for r in pq.read_table(out / name).to_pylist()]


def test_every_document_accounted_for_with_stable_ids_and_splits(
    small_corpus: Path, tmp_path: Path
) -> None:
    result = _ingest(small_corpus, tmp_path / "a")
    assert result.seen == 5 * DOCS_PER_LABEL == result.ingested + result.quarantined
    rows = _rows(tmp_path / "a")
    assert len({r["doc_id"] for r in rows}) == len(rows)
    assert {r["label"] for r in rows} == {"business", "entertainment", "politics", "sports", "tech"}
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    again = _ingest(small_corpus, tmp_path / "b")
    assert [(r["doc_id"], r["split"], r["sha256"]) for r in _rows(tmp_path / "b")] == [
        (r["doc_id"], r["split"], r["sha256"]) for r in rows
    ]
    assert again.by_split == result.by_split


def test_undecodable_bytes_are_flagged_not_dropped(small_corpus: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(small_corpus, corpus)
    (corpus / "tech" / "latin1.txt").write_bytes("Caf\xe9 servers \xff crashed".encode("latin-1"))
    result = _ingest(corpus, tmp_path / "ws")
    assert result.ingested == 5 * DOCS_PER_LABEL + 1
    row = next(r for r in _rows(tmp_path / "ws") if r["doc_id"] == "tech/latin1.txt")
    assert row["decode_errors"] is True
    assert "\ufffd" in row["text"]


def test_symlink_is_refused_into_quarantine(small_corpus: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(small_corpus, corpus)
    os.symlink("/etc/passwd", corpus / "tech" / "evil.txt")
    result = _ingest(corpus, tmp_path / "ws")
    assert result.quarantined == 1
    assert result.seen == result.ingested + result.quarantined
    quarantined = pq.read_table(tmp_path / "ws/data/quarantine/ingest.parquet").to_pylist()
    assert quarantined[0]["doc_id"] == "tech/evil.txt"
    assert quarantined[0]["reason"] == "symlink refused"
    assert "root:" not in (quarantined[0]["text"] or "")


def test_rerun_with_unchanged_source_reuses_output(small_corpus: Path, tmp_path: Path) -> None:
    first = _ingest(small_corpus, tmp_path)
    stamp = (tmp_path / "data/ingested/part-00000.parquet").stat().st_mtime_ns
    second = _ingest(small_corpus, tmp_path)
    assert (first.cached, second.cached) == (False, True)
    assert (tmp_path / "data/ingested/part-00000.parquet").stat().st_mtime_ns == stamp
    # The quarantine file is part of the output: tampering with it is noticed.
    (tmp_path / "data/quarantine/ingest.parquet").write_bytes(b"not parquet")
    third = _ingest(small_corpus, tmp_path)
    assert third.cached is False
    assert pq.read_table(tmp_path / "data/quarantine/ingest.parquet").num_rows == 0
