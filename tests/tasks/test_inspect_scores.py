"""`doclstm inspect scores`: the polars summary of a real scored folder, against its rows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from doclstm.scoring.output_summary import scored_folders, summarize_scores
from doclstm.scoring.shard_markers import marker_path
from tests.tasks.test_drift_report import _scored


def test_the_summary_of_a_scored_folder_is_that_of_its_rows(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(small_corpus, source)
    (source / "tech/empty.txt").write_text("  \n")  # scored as no label, with its reason
    result = _scored(built_workspace, source, tmp_path / "out")
    rows = pq.read_table(result.out_dir).to_pylist()
    assert scored_folders(tmp_path / "out") == [result.out_dir]

    summary = summarize_scores(result.out_dir, confidence=0.9)
    scored = [r for r in rows if r["predicted"] is not None]
    assert (summary["documents"], summary["scored"]) == (result.documents, len(scored))
    assert summary["unscored"] == {"empty document": 1} and result.unscored == 1
    assert {k: v["documents"] for k, v in summary["predicted"].items()} == Counter(
        r["predicted"] for r in scored
    )
    assert list(summary["predicted"]) == [
        k for k, _ in Counter(r["predicted"] for r in scored).most_common()
    ]
    unsure = sum(max(r["probabilities"]) < 0.9 for r in scored)
    assert summary["unsure"] == {"threshold": 0.9, "documents": unsure}
    assert summary["long_documents"] == dict(
        Counter(r["long_document"] for r in rows if r["long_document"])
    )
    assert sum(summary["long_documents"].values()) == result.truncated + result.windowed > 0
    assert summary["drift"] == {
        "drifted": result.drifted,
        "alerts": list(result.drift_alerts),
        "report": str(result.drift_report),
    }
    tokens = sorted(r["tokens"] for r in scored)
    assert tokens[0] <= summary["tokens"]["0.05"] <= summary["tokens"]["0.5"] <= tokens[-1]

    command = [sys.executable, "-m", "doclstm.cli", "inspect", "scores", str(tmp_path / "out")]
    shown = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["predicted"] == summary["predicted"]
    table = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "predicted labels" in table.stdout and "not scored: empty document: 1" in table.stdout

    # A shard without its marker is not complete: it is left out, and counted as such.
    first = sorted(result.out_dir.glob("part-*.parquet"))[0]
    marker_path(first).unlink()
    partial = summarize_scores(result.out_dir, confidence=0.9)
    assert partial["shards_incomplete"] == 1
    assert partial["documents"] == result.documents - pq.read_metadata(first).num_rows
    # A shard other scoring code wrote may have other columns: counted, not read.
    second = sorted(result.out_dir.glob("part-*.parquet"))[1]
    record = json.loads(marker_path(second).read_text())
    marker_path(second).write_text(json.dumps(record | {"code": "0" * 64}))
    older = summarize_scores(result.out_dir, confidence=0.9)
    assert (older["shards_incomplete"], older["shards_older"]) == (1, 1)
    assert older["documents"] == partial["documents"] - pq.read_metadata(second).num_rows
