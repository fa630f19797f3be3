"""The Great Expectations suite fed deliberately bad rows."""

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from doclstm.errors import DoclstmError
from doclstm.manifest import StageManifest, file_entry
from doclstm.params import ValidateParams
from doclstm.tables import DOCUMENTS, write_table
from tasks.validate import validate_documents

GOOD = "Shares in the firm rose sharply after strong results."


def _doc(doc_id: str, text: str | None, label: str | None, split: str) -> dict:
    return {
        "doc_id": doc_id,
        "text": text,
        "label": label,
        "split": split,
        "source": "t",
        "sha256": None if text is None else hashlib.sha256(text.encode()).hexdigest(),
        "decode_errors": False,
    }


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
    (_doc("unknown-label", GOOD + " 1", "weather", "test"), "label not in the allowed set"),
    (_doc("dup", GOOD + " 2", "sport", "train"), "duplicate doc_id"),
    (_doc("leak", GOOD, "sport", "test"), "leakage: same text as a train document"),
]


def test_each_bad_row_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    good = [
        _doc(f"good-{i}", GOOD if i == 0 else f"{GOOD} {i + 10}", "sport", "train")
        for i in range(5)
    ]
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
    assert (tmp_path / "reports/data_docs/index.html").is_file()


def test_failure_budget_stops_the_run_and_names_the_quarantine(tmp_path: Path) -> None:
    rows = [_doc("a", GOOD, "sport", "train"), _doc("b", "", "sport", "train")]
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
