"""IMDB straight from the shared .tar.xz: every review accounted for."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from doclstm.config.params import ValidateParams
from doclstm.tasks.validate import validate_documents
from tests.tasks.test_ingest_sources import ingest


@pytest.mark.slow
@pytest.mark.imdb
def test_imdb_ingests_from_the_archive_losing_nothing(imdb_archive: Path, tmp_path: Path) -> None:
    result = ingest(tmp_path, f"ingest.source={imdb_archive}")
    assert result.seen == 100_002 == result.ingested + result.quarantined
    assert result.by_split["test"] == 25_000
    assert result.by_split["train"] + result.by_split["val"] == 25_000
    assert result.by_split["unlabelled"] == 50_000
    quarantine = pq.read_table(tmp_path / "data/quarantine/ingest.parquet").to_pylist()
    assert sorted(q["doc_id"] for q in quarantine) == ["aclImdb/README", "aclImdb/imdb.vocab"]
    assert {q["reason"].split(":")[0] for q in quarantine} == {"outside the layout"}

    checked = validate_documents(
        ValidateParams(),
        tmp_path / "data/ingested",
        tmp_path / "data/validated",
        tmp_path / "data/quarantine",
        tmp_path / "reports/validation",
    )
    assert checked.labels == ["neg", "pos"]
    assert checked.passed + checked.quarantined == 100_000
    rejected = pq.read_table(tmp_path / "data/quarantine/validate.parquet").to_pylist()
    # IMDB's known train/test duplicates; each is quarantined from the held-out side.
    assert rejected and all(r["reason"].startswith("leakage") for r in rejected)
    assert all(r["split"] in {"val", "test"} for r in rejected)
