"""Quiet input is heard: an empty source, labels that went unread, replaced bytes and NUL
bytes each give a warning naming the source, in the log and the result's warnings."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from doclstm.sources.documents import decode_text
from tests.tasks.test_ingest_sources import ingest, ingested_rows

ROOT = Path(__file__).resolve().parents[2]
PROSE = "Shares in the firm rose after the results were announced."


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_an_empty_folder_is_a_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = ingest(tmp_path / "ws", f"ingest.source={empty}")
    expected = (
        f"{empty}: no documents found in {empty}; check ingest.source (a folder of "
        "<label>/*.txt, an archive of one, or a table with a text column)"
    )
    assert (result.seen, result.warnings) == (0, [expected])
    assert _warnings(caplog) == [f"ingest: {expected}"]


def test_a_table_without_its_label_column_warns_and_points_at_a_lookalike(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = tmp_path / "reviews.csv"
    table.write_text("id,text,sentiment\n" + "".join(f"{i},{PROSE} {i},pos\n" for i in range(8)))
    result = ingest(tmp_path / "ws", f"ingest.source={table}")
    assert result.warnings == [
        f"{table}: no column 'label', so all 8 documents are unlabelled; column 'sentiment' "
        "looks like labels: set the source's label_column: sentiment (label_column: null "
        "says unlabelled on purpose)"
    ]
    assert _warnings(caplog) == [f"ingest: {w}" for w in result.warnings]
    on_purpose = ingest(
        tmp_path / "ws2", f'ingest.source={{"path": "{table}", "label_column": null}}'
    )
    assert on_purpose.warnings == []
    blank = tmp_path / "blank.csv"
    blank.write_text("id,text,label\n" + "".join(f"{i},{PROSE} {i},\n" for i in range(3)))
    assert ingest(tmp_path / "ws3", f"ingest.source={blank}").warnings == [
        f"{blank}: column 'label' is empty in every row, so all 3 documents are unlabelled"
    ]


def test_replaced_bytes_are_counted_per_source_in_the_warning(tmp_path: Path) -> None:
    table = tmp_path / "latin1.csv"
    rows = [f"{i},Caf\xe9 cr\xe8me number {i},pos\n" for i in range(30)]
    rows += [f"{i + 30},{PROSE},neg\n" for i in range(5)]
    table.write_bytes(("id,text,label\n" + "".join(rows)).encode("latin-1"))
    result = ingest(tmp_path / "ws", f"ingest.source={table}")
    assert result.warnings == [
        f"{table}: 30 documents had undecodable or NUL bytes replaced with U+FFFD "
        "(decode_errors is true on those rows); is the source UTF-8?"
    ]


def test_nul_bytes_are_replaced_and_flagged(tmp_path: Path) -> None:
    assert decode_text(b"a\x00b") == decode_text("a\x00b") != decode_text(b"ab")
    assert decode_text(b"a\x00b").text == "a\ufffdb" and decode_text(b"a\x00b").decode_errors
    corpus = tmp_path / "corpus"
    for label in ("pos", "neg"):
        (corpus / label).mkdir(parents=True)
        (corpus / label / "clean.txt").write_text(PROSE)
    (corpus / "pos" / "nul.txt").write_bytes(b"Good\x00film")
    result = ingest(tmp_path / "ws", f"ingest.source={corpus}")
    rows = {r["doc_id"]: r for r in ingested_rows(tmp_path / "ws")}
    assert rows["pos/nul.txt"]["decode_errors"] and rows["pos/nul.txt"]["text"] == "Good\ufffdfilm"
    assert not rows["pos/clean.txt"]["decode_errors"]
    assert [w.split(": ", 1)[1][:15] for w in result.warnings] == ["1 document had "]


def test_files_refused_beside_an_unlabelled_tree_point_at_the_layout(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "pos").mkdir(parents=True)
    for i in range(6):
        (corpus / f"top-{i}.txt").write_text(f"{PROSE} {i}")
    for i in range(2):
        (corpus / "pos" / f"in-{i}.txt").write_text(f"{PROSE} in {i}")
    result = ingest(tmp_path / "ws", f"ingest.source={corpus}")
    assert result.warnings == [
        f"{corpus}: read as unlabelled files, and 2 files in sub-folders were refused as "
        "outside the layout; if those folders are labels, set the source's layout: labels "
        "(or splits for <train|test>/<label>/)"
    ]


def test_a_bad_set_value_is_blamed_on_set_not_the_params_file() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "doclstm.cli", "stage", "ingest", "--set", "train.epochs=many"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2 and "Traceback" not in out
    assert "error: invalid params: --set train.epochs=many: Input should be a valid integer" in out
    assert "params.yaml" not in out
