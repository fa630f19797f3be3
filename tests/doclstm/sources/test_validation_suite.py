"""The Great Expectations suite fed deliberately bad rows."""

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from doclstm.config.params import ValidateParams
from doclstm.errors import DoclstmError
from doclstm.sources.expectations import LEAKS_A_TRAIN_TEXT, REPEATS_A_TEXT, REPEATS_AN_ID
from doclstm.storage.manifest import StageManifest, file_entry
from doclstm.storage.tables import DOCUMENTS, write_table
from doclstm.tasks.validate import validate_documents
from tests.doclstm.sources.rows import document_row as _doc

GOOD = "Shares in the firm rose sharply after strong results."


def _ingested(tmp_path: Path, rows: list[dict]) -> Path:
    out = tmp_path / "ingested"
    write_table(pa.Table.from_pylist(rows, schema=DOCUMENTS), out / "part-00000.parquet")
    StageManifest(
        "ingest", "fp", {"part-00000.parquet": file_entry(out / "part-00000.parquet")}
    ).write(out)
    return out


def _validate(tmp_path: Path, rows: list[dict], budget: float = 1.0):
    return validate_documents(
        ValidateParams(failure_budget=budget, max_chars=500),
        _ingested(tmp_path, rows),
        tmp_path / "validated",
        tmp_path / "quarantine",
        tmp_path / "reports",
    )


BAD_ROWS = [
    (_doc("empty", "", "sport", "train"), "text is empty or whitespace only"),
    (_doc("blank", "  \n\t ", "sport", "test"), "text is empty or whitespace only"),
    (_doc("null", None, "sport", "train"), "text is null"),
    (_doc("huge", "x" * 600, "sport", "train"), "text length outside"),
    (_doc("unknown-label", GOOD + " 1", "weather", "test"), "label not among the train labels"),
    (_doc("dup", GOOD + " 2", "sport", "train"), "duplicate doc_id"),
    (_doc("leak", GOOD, "sport", "test"), "leakage: same text as a train document"),
]


def test_each_bad_row_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    good = [
        _doc(f"good-{i}", GOOD if i == 0 else f"{GOOD} {i + 10}", "sport", "train")
        for i in range(5)
    ] + [_doc(f"other-{i}", f"{GOOD} {i + 20}", "business", "train") for i in range(5)]
    rows = [*good, _doc("dup", GOOD + " 3", "sport", "train"), *(r for r, _ in BAD_ROWS)]
    result = _validate(tmp_path, rows)
    quarantined = pq.read_table(tmp_path / "quarantine/validate.parquet").to_pylist()
    reasons = {(r["doc_id"], r["text"]): r["reason"] for r in quarantined}
    for row, reason in BAD_ROWS:
        assert reasons[(row["doc_id"], row["text"])].startswith(reason), row["doc_id"]
    assert len(quarantined) == len(BAD_ROWS)  # the first "dup" stays
    assert result.passed + result.quarantined == len(rows)
    passed = pq.read_table(tmp_path / "validated/part-00000.parquet").to_pylist()
    assert {r["doc_id"] for r in passed} == {*(g["doc_id"] for g in good), "dup"}
    summary = json.loads((tmp_path / "reports/summary.json").read_text())
    assert summary["quarantined"] == len(BAD_ROWS)
    # The dataset-wide checks are expectations of the suite, counted like the others.
    counts = {e["column"]: e["unexpected_count"] for e in summary["expectations"]}
    assert counts[LEAKS_A_TRAIN_TEXT] == 1 and counts[REPEATS_AN_ID] == 1
    assert counts[REPEATS_A_TEXT] == 1  # "leak" repeats good-0's text: a warning only
    docs = tmp_path / "reports/data_docs"
    for page in docs.rglob("*.html"):  # nothing loaded from a network
        html = page.read_text()
        assert not re.search(r'<(script|link)[^>]*(src|href)="https?://', html), page
        assert not re.search(r'<img[^>]*src="https?://', html), page
    assert (docs / "static/offline/bootstrap-table.min.js").is_file()


def test_failure_budget_stops_the_run_and_names_the_quarantine(tmp_path: Path) -> None:
    rows = [_doc("a", GOOD, "sport", "train"), _doc("b", "", "business", "train")]
    with pytest.raises(DoclstmError, match=r"over validate.failure_budget.*validate\.parquet"):
        _validate(tmp_path, rows, budget=0.1)
    assert (tmp_path / "quarantine/validate.parquet").is_file()


def test_corrupt_ingested_part_is_caught_by_name(tmp_path: Path) -> None:
    out = _ingested(tmp_path, [_doc("a", GOOD, "sport", "train")])
    part = out / "part-00000.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(DoclstmError, match=r"part-00000\.parquet: checksum mismatch"):
        validate_documents(ValidateParams(), out, tmp_path / "v", tmp_path / "q", tmp_path / "r")


def _classes(counts: dict[str, int]) -> list[dict]:
    return [
        _doc(f"{label}-{i}", f"{GOOD} {label} {i}", label, "train")
        for label, n in counts.items()
        for i in range(n)
    ]


def test_a_single_class_train_split_fails_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(DoclstmError) as single:
        _validate(tmp_path, _classes({"pos": 20}))
    assert str(single.value) == (
        "validate: the train split has one class ('pos'); a classifier needs at least two: "
        "check ingest.source (its label folders or label column); "
        f"see {tmp_path / 'reports'}/summary.json"
    )
    assert not (tmp_path / "validated").exists()
    summary = json.loads((tmp_path / "reports/summary.json").read_text())
    assert summary["train_classes"] == {"pos": 20}


def test_a_stray_class_of_one_document_fails_unless_the_labels_are_declared(
    tmp_path: Path,
) -> None:
    rows = _classes({"neg": 20, "pos": 20, "mystery": 1})
    with pytest.raises(DoclstmError) as stray:
        _validate(tmp_path / "undeclared", rows)
    assert str(stray.value) == (
        "validate: train class 'mystery' has 1 document(s), fewer than "
        "validate.min_class_documents (5); add documents, remove the class from the source, "
        "or list the expected labels in validate.labels"
    )
    declared = validate_documents(
        ValidateParams(labels=["neg", "pos"]),
        _ingested(tmp_path / "declared", rows),
        tmp_path / "declared/validated",
        tmp_path / "declared/quarantine",
        tmp_path / "declared/reports",
    )
    assert (declared.labels, declared.passed, declared.quarantined) == (["neg", "pos"], 40, 1)
    quarantined = pq.read_table(tmp_path / "declared/quarantine/validate.parquet").to_pylist()
    assert [(r["doc_id"], r["reason"]) for r in quarantined] == [
        ("mystery-0", "label not in validate.labels")
    ]


def test_a_declared_label_without_documents_fails(tmp_path: Path) -> None:
    with pytest.raises(DoclstmError, match="train class 'neutral' has 0 document"):
        validate_documents(
            ValidateParams(labels=["neg", "neutral", "pos"]),
            _ingested(tmp_path, _classes({"neg": 20, "pos": 20})),
            tmp_path / "validated",
            tmp_path / "quarantine",
            tmp_path / "reports",
        )


def _label_folders(root: Path, counts: dict[str, int]) -> Path:
    for label, n in counts.items():
        (root / "train" / label).mkdir(parents=True)
        for i in range(n):
            (root / "train" / label / f"{i}.txt").write_text(f"{GOOD} {label} number {i}.")
    return root


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"pos": 30}, "validate: the train split has one class ('pos'); a classifier needs"),
        (
            {"pos": 30, "neg": 30, "mystery": 1},
            "validate: train class 'mystery' has 1 document(s), fewer than "
            "validate.min_class_documents (5)",
        ),
    ],
    ids=["one-label-folder", "stray-label-folder"],
)
def test_a_source_tree_with_a_bad_label_set_stops_at_validate(
    tmp_path: Path, counts: dict[str, int], message: str
) -> None:
    from doclstm.config.params import load_params
    from doclstm.tasks.table import run_stage

    corpus = _label_folders(tmp_path / "corpus", counts)
    params = load_params(None, [f"base.workspace={tmp_path / 'ws'}", f"ingest.source={corpus}"])
    run_stage("ingest", params)
    with pytest.raises(DoclstmError) as failed:
        run_stage("validate", params)
    assert str(failed.value).startswith(message)
    assert not (tmp_path / "ws/data/validated").exists()  # tokenize has nothing to read
