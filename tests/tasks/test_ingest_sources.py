"""Every kind of source ingests the same documents the same way."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from doclstm.config.params import load_params
from doclstm.errors import DoclstmError
from doclstm.storage.manifest import StageManifest
from doclstm.tasks.ingest import ingest_documents
from tests.archives import tar_tree, zip_tree
from tests.conftest import DOCS_PER_LABEL


def ingest(workspace: Path, *overrides: str):
    params = load_params(None, list(overrides))
    return ingest_documents(
        params.ingest, workspace, workspace / "data/ingested", workspace / "data/quarantine"
    )


def ingested_rows(workspace: Path) -> list[dict]:
    out = workspace / "data/ingested"
    manifest = StageManifest.load(out)
    parts = sorted(n for n in manifest.files if n.startswith("part-"))
    return [r for name in parts for r in pq.read_table(out / name).to_pylist()]


def _key(rows: list[dict]) -> list[tuple]:
    return sorted((r["doc_id"], r["label"], r["split"], r["sha256"]) for r in rows)


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.xz", ".zip"])
def test_an_archive_ingests_exactly_like_the_folder_it_packs(
    small_corpus: Path, tmp_path: Path, suffix: str
) -> None:
    ingest(tmp_path / "folder", f"ingest.source={small_corpus}")
    expected = _key(ingested_rows(tmp_path / "folder"))
    archive = tmp_path / f"corpus{suffix}"
    (zip_tree if suffix == ".zip" else tar_tree)(small_corpus, archive)
    result = ingest(tmp_path / "archive", f"ingest.source={archive}")
    assert result.seen == result.ingested == 5 * DOCS_PER_LABEL
    assert _key(ingested_rows(tmp_path / "archive")) == expected
    assert not list(tmp_path.glob("archive/**/*.txt"))  # read as a stream, nothing extracted


def test_tables_with_configured_columns(tmp_path: Path) -> None:
    records = [
        {"key": f"k{i}", "body": f"Report number {i}.\nSecond line.", "topic": t, "part": p}
        for i, (t, p) in enumerate([("a", "train"), ("b", "test"), ("a", ""), ("", "train")])
    ]
    with (tmp_path / "docs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "docs.parquet")
    columns = "text_column: body, label_column: topic, id_column: key, split_column: part"
    for kind in ("csv", "jsonl", "parquet"):
        ws = tmp_path / kind
        result = ingest(ws, f"ingest.source={{path: {tmp_path}/docs.{kind}, {columns}}}")
        assert (result.seen, result.quarantined) == (4, 0), kind
        rows = {r["doc_id"]: r for r in ingested_rows(ws)}
        assert rows["k0"]["text"] == "Report number 0.\nSecond line."
        assert rows["k0"]["label"] == "a" and rows["k0"]["split"] in {"train", "val"}
        assert (rows["k1"]["label"], rows["k1"]["split"]) == ("b", "test")
        assert rows["k2"]["split"] in {"train", "val", "test"}  # no split given: hashed
        assert (rows["k3"]["label"], rows["k3"]["split"]) == (None, "unlabelled")


def test_a_missing_configured_column_names_the_file_and_the_columns(tmp_path: Path) -> None:
    (tmp_path / "docs.csv").write_text("id,text\n1,hello\n")
    with pytest.raises(DoclstmError, match=r"docs\.csv: no column 'topic'.*has id, text"):
        ingest(tmp_path / "ws", f"ingest.source={{path: {tmp_path}/docs.csv, label_column: topic}}")


def test_a_list_of_sources_is_merged_each_row_keeping_its_source(
    small_corpus: Path, tmp_path: Path
) -> None:
    archive = zip_tree(small_corpus, tmp_path / "copy.zip")
    (tmp_path / "extra.jsonl").write_text('{"id": "x1", "text": "An unlabelled note."}\n')
    sources = (
        f"[{small_corpus}, {{path: {archive}, name: copy, id_prefix: 'copy/'}}, "
        f"{{path: {tmp_path}/extra.jsonl, name: notes}}]"
    )
    result = ingest(tmp_path / "ws", f"ingest.source={sources}")
    assert result.ingested == 2 * 5 * DOCS_PER_LABEL + 1
    rows = ingested_rows(tmp_path / "ws")
    by_source = {name: [r for r in rows if r["source"] == name] for name in ("copy", "notes")}
    assert len(by_source["copy"]) == 5 * DOCS_PER_LABEL
    assert all(r["doc_id"].startswith("copy/") for r in by_source["copy"])
    assert [(r["doc_id"], r["split"]) for r in by_source["notes"]] == [("x1", "unlabelled")]
    assert len({r["doc_id"] for r in rows}) == len(rows)


def test_sources_must_have_distinct_names(small_corpus: Path) -> None:
    with pytest.raises(DoclstmError, match="share a name"):
        load_params(None, [f"ingest.source=[{small_corpus}, {small_corpus}]"])


def test_a_tables_own_val_split_stays_val(tmp_path: Path) -> None:
    table = tmp_path / "splits.csv"
    rows = [("train", 30), ("val", 5), ("dev", 5), ("validation", 5), ("test", 5)]
    lines = [
        f"{name}-{i},Document {name} number {i} about markets.,pos,{name}\n"
        for name, n in rows
        for i in range(n)
    ]
    table.write_text("id,text,label,split\n" + "".join(lines))
    ingest(tmp_path, f'ingest.source={{"path": "{table}", "split_column": "split"}}')
    split_of = {r["doc_id"]: r["split"] for r in ingested_rows(tmp_path)}
    for name in ("val", "dev", "validation"):
        assert {split_of[f"{name}-{i}"] for i in range(5)} == {"val"}, name
    assert {split_of[f"test-{i}"] for i in range(5)} == {"test"}
    assert {split_of[f"train-{i}"] for i in range(30)} <= {"train", "val"}
