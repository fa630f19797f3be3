"""Documents with several labels: read from tables, checked, kept in one form, tokenized."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from doclstm.config.params import TokenizeParams, ValidateParams, load_params
from doclstm.errors import DoclstmError
from doclstm.sources.label_task import NO_LABEL_IN_SINGLE, ONLY_RARE_LABELS
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import load_split
from doclstm.tasks.ingest import ingest_documents
from doclstm.tasks.tokenize import tokenize_corpus
from doclstm.tasks.validate import validate_documents

TOPICS = ["markets", "energy", "policy"]
# Six train documents a topic pair, two test ones: every topic has 12+ train documents.
PAIRS = [("markets",), ("energy",), ("markets", "energy"), ("policy",), ("energy", "policy")]


def _records() -> list[dict]:
    records = []
    for p, labels in enumerate(PAIRS):
        for i in range(8):
            records.append(
                {
                    "id": f"d{p}-{i}",
                    "body": f"Report {p}-{i} on {' and '.join(labels)}: prices, plants, rules.",
                    "tags": list(labels),
                    "part": "train" if i < 6 else "test",
                }
            )
    return records


BAD = [  # (tags cell, reason at ingest)
    (["markets", 3], "label list holds a non-string (3)"),
    (["energy", "energy"], "label 'energy' twice in the label list"),
    ([], "empty label list (a source's allow_no_label: true keeps it)"),
]


def _write_sources(folder: Path) -> dict[str, str]:
    """The same records as JSON Lines (arrays), Parquet (a list column) and CSV ("|")."""
    records = _records()
    bad = [
        {"id": f"bad{i}", "body": f"Bad row {i}.", "tags": tags, "part": "train"}
        for i, (tags, _) in enumerate(BAD)
    ]
    (folder / "docs.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records + bad), encoding="utf-8"
    )
    pq.write_table(pa.Table.from_pylist(records), folder / "docs.parquet")
    with (folder / "docs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows({**r, "tags": "|".join(r["tags"])} for r in records)
        writer.writerow({"id": "bad-csv", "body": "Bad.", "tags": "markets||energy", "part": ""})
    columns = "text_column: body, label_column: tags, split_column: part"
    return {
        "jsonl": f"{{path: {folder}/docs.jsonl, {columns}}}",
        "parquet": f"{{path: {folder}/docs.parquet, {columns}}}",
        "csv": f"{{path: {folder}/docs.csv, {columns}, label_separator: '|'}}",
    }


def _run(workspace: Path, source: str, **validate: object):
    params = load_params(None, [f"ingest.source={source}"])
    data = workspace / "data"
    ingested = ingest_documents(params.ingest, workspace, data / "ingested", data / "quarantine")
    result = validate_documents(
        ValidateParams(**validate),  # type: ignore[arg-type]
        data / "ingested",
        data / "validated",
        data / "quarantine",
        workspace / "reports",
    )
    return ingested, result


def _rows(folder: Path) -> list[dict]:
    manifest = StageManifest.load(folder)
    parts = sorted(n for n in manifest.files if n.startswith("part-"))
    return [r for name in parts for r in pq.read_table(folder / name).to_pylist()]


def test_list_and_separated_labels_read_the_same_from_every_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sources = _write_sources(tmp_path)
    seen = {}
    for kind, source in sources.items():
        ws = tmp_path / kind
        with caplog.at_level(logging.INFO, logger="doclstm.sources.label_task"):
            ingested, validated = _run(ws, source)
        assert ingested.seen == ingested.ingested + ingested.quarantined, kind
        assert validated.task == "multi" and validated.labels == sorted(TOPICS), kind
        rows = _rows(ws / "data/validated")
        assert all(r["label"] is None for r in rows), kind
        seen[kind] = sorted((r["doc_id"], tuple(r["labels"]), r["split"]) for r in rows)
        quarantined = pq.read_table(ws / "data/quarantine/ingest.parquet").to_pylist()
        reasons = {r["doc_id"]: r["reason"].split(": ", 1)[1] for r in quarantined}
        if kind == "jsonl":
            assert reasons == {f"bad{i}": reason for i, (_, reason) in enumerate(BAD)}
            assert [r["label"] for r in quarantined] == [
                '["markets", 3]',
                '["energy", "energy"]',
                "[]",
            ]
        elif kind == "csv":
            assert reasons == {"bad-csv": "empty label in 'markets||energy' (label_separator '|')"}
    assert seen["jsonl"] == seen["parquet"] == seen["csv"]
    assert len(seen["csv"]) == len(PAIRS) * 8
    assert caplog.text.count("several labels a document (validate.task auto)") == 3

    summary = json.loads((tmp_path / "csv/reports/summary.json").read_text())
    assert summary["task"] == "multi"
    train = [labels for _, labels, split in seen["csv"] if split == "train"]
    # a document counts for each of its labels
    assert summary["train_classes"] == {
        topic: sum(topic in labels for labels in train) for topic in sorted(TOPICS)
    }
    mean = round(sum(map(len, train)) / len(train), 3)
    assert summary["census"]["splits"]["train"]["labels_per_document"] == {"mean": mean, "max": 2}
    assert StageManifest.load(tmp_path / "csv/data/validated").summary["task"] == "multi"


def _table(folder: Path, records: list[dict]) -> str:
    pq.write_table(pa.Table.from_pylist(records), folder / "docs.parquet")
    columns = "text_column: body, label_column: tags, split_column: part"
    return f"{{path: {folder}/docs.parquet, {columns}}}"


def test_a_single_label_pipeline_given_several_labels_fails_in_one_line(tmp_path: Path) -> None:
    source = _table(tmp_path, _records())
    with pytest.raises(DoclstmError) as failed:
        _run(tmp_path / "ws", source, task="single")
    assert str(failed.value) == (
        "validate: 16 document(s) have several labels (the first: 'd2-0'), and validate.task "
        "is single; set validate.task: multi (or auto) to train one output a label"
    )
    assert not (tmp_path / "ws/data/validated").exists()


def test_one_label_a_document_stays_single_label_unless_the_task_says_multi(
    tmp_path: Path,
) -> None:
    records = [{**r, "tags": "|".join(r["tags"])} for r in _records() if len(r["tags"]) == 1]
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "docs.parquet")
    source = (
        f"{{path: {tmp_path}/docs.parquet, text_column: body, label_column: tags, "
        "split_column: part, label_separator: '|'}"
    )
    _, auto = _run(tmp_path / "auto", source)
    assert auto.task == "single"
    rows = _rows(tmp_path / "auto/data/validated")
    assert {r["label"] for r in rows} == set(TOPICS) and all(r["labels"] is None for r in rows)
    _, multi = _run(tmp_path / "multi", source, task="multi")
    assert multi.task == "multi"
    rows = _rows(tmp_path / "multi/data/validated")
    assert all(r["label"] is None and len(r["labels"]) == 1 for r in rows)


def test_labels_outside_the_set_and_no_label_under_single_are_quarantined(
    tmp_path: Path,
) -> None:
    records = [
        *_records(),
        {"id": "weather", "body": "Storm ahead.", "tags": ["energy", "weather"], "part": "test"},
    ]
    _, multi = _run(tmp_path / "multi", _table(tmp_path, records))
    quarantined = pq.read_table(tmp_path / "multi/data/quarantine/validate.parquet").to_pylist()
    assert [(r["doc_id"], r["reason"], r["labels"]) for r in quarantined] == [
        ("weather", "label not among the train labels ('weather')", ["energy", "weather"])
    ]
    assert multi.quarantined == 1

    single = [{**r, "tags": r["tags"][:1]} for r in _records()]
    single.append({"id": "none", "body": "Nothing to say.", "tags": [], "part": "train"})
    (tmp_path / "single").mkdir()
    source = _table(tmp_path / "single", single).replace("}", ", allow_no_label: true}")
    _, result = _run(tmp_path / "single/ws", source, task="single")
    quarantined = pq.read_table(tmp_path / "single/ws/data/quarantine/validate.parquet")
    assert [(r["doc_id"], r["reason"]) for r in quarantined.to_pylist()] == [
        ("none", NO_LABEL_IN_SINGLE)
    ]
    assert result.task == "single"


def test_rare_labels_fail_by_name_or_are_taken_off_their_documents(tmp_path: Path) -> None:
    records = _records()
    records += [
        {"id": "rare0", "body": "Gold mine.", "tags": ["markets", "mining"], "part": "train"},
        {"id": "rare1", "body": "Gold only.", "tags": ["mining"], "part": "train"},
        {"id": "rare2", "body": "Rail strike.", "tags": ["transport"], "part": "train"},
    ]
    source = _table(tmp_path, records)
    with pytest.raises(DoclstmError) as failed:
        _run(tmp_path / "fail", source)
    assert str(failed.value) == (
        "validate: 2 train label(s) under validate.min_class_documents (5): 'mining' (2), "
        "'transport' (1); add documents, set validate.rare_labels: drop to take them off "
        "their documents, or list the expected labels in validate.labels"
    )
    _, dropped = _run(tmp_path / "drop", source, rare_labels="drop")
    assert dropped.labels == sorted(TOPICS)
    rows = {r["doc_id"]: r["labels"] for r in _rows(tmp_path / "drop/data/validated")}
    assert rows["rare0"] == ["markets"]
    quarantined = pq.read_table(tmp_path / "drop/data/quarantine/validate.parquet").to_pylist()
    assert sorted((r["doc_id"], r["reason"]) for r in quarantined) == [
        ("rare1", f"{ONLY_RARE_LABELS} (mining)"),
        ("rare2", f"{ONLY_RARE_LABELS} (transport)"),
    ]
    summary = json.loads((tmp_path / "drop/reports/summary.json").read_text())
    assert summary["dropped_labels"] == {"mining": 2, "transport": 1}


def test_token_shards_keep_every_label_of_a_document_and_load_as_a_label_matrix(
    tmp_path: Path,
) -> None:
    source = _write_sources(tmp_path)["parquet"]
    ws = tmp_path / "ws"
    _run(ws, source)
    tokens = ws / "data/tokens"
    result = tokenize_corpus(
        TokenizeParams(model="wordpiece", vocab_size=200), ws / "data/validated", tokens
    )
    manifest = StageManifest.load(tokens)
    assert manifest.summary["task"] == "multi"
    names = json.loads((tokens / "labels.json").read_text())
    assert names == manifest.summary["labels"] == sorted(TOPICS)
    shards = [pq.read_table(tokens / n) for n in manifest.files if n.endswith(".parquet")]
    rows = {r["doc_id"]: r for shard in shards for r in shard.to_pylist()}
    assert len(rows) == result.documents == len(PAIRS) * 8
    expected = {r["id"]: sorted(r["tags"]) for r in _records()}
    assert {d: sorted(names[i] for i in r["label_ids"]) for d, r in rows.items()} == expected
    train = load_split(tokens, "train", manifest)
    assert train.multi_label and train.label_ids.shape == (len(train), len(names))
    for doc_id, row in zip(train.doc_ids, train.label_ids, strict=True):
        assert sorted(names[i] for i in row.nonzero()[0]) == expected[doc_id]
