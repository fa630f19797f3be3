"""Exactly once across processes: the output folder of a model version is locked while it
is scored, so two scorers from two workspaces never score the same shard twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from doclstm.errors import DoclstmError
from doclstm.scoring.job import OUTPUT_LOCK
from doclstm.tasks.score import score_documents
from doclstm.tasks.table import score_arguments
from tests.conftest import tiny_params

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pathlib import Path
from doclstm.storage.file_lock import exclusive_lock
with exclusive_lock(Path(sys.argv[1]), 0, "busy", "-"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _score(workspace: Path, model: Path, corpus: Path, out: Path, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "doclstm.cli", "score", "--model", str(model)),
        *("--input", str(corpus), "--output", str(out), "--params", str(ROOT / "params.yaml")),
        *("--set", f"base.workspace={workspace}", "--set", "score.docs_per_shard=4"),
        *("--set", "score.batch_tokens=1024", *extra),
    ]


@pytest.mark.slow
def test_two_scorers_of_one_folder_from_two_workspaces_score_each_shard_once(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    model, out = built_workspace / "models/main", tmp_path / "shared-output"
    wait = ("--set", "score.lock_wait_seconds=600")  # the second waits, then finds all done
    env = {**os.environ, "COLUMNS": "200"}
    scorers = [
        subprocess.Popen(
            _score(tmp_path / f"ws{i}", model, small_corpus, out, *wait),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for i in (1, 2)
    ]
    logs = [scorer.communicate(timeout=600)[0] for scorer in scorers]
    assert [s.returncode for s in scorers] == [0, 0], logs
    # Each event is logged once, so a repeated line would count a shard twice here.
    scorings = [len(re.findall(r" INFO +[\w.]+: score: shard \d+,", log)) for log in logs]
    rows = pq.read_table(out).to_pylist()
    shards = -(-len(rows) // 4)
    assert sorted(scorings) == [0, shards], scorings  # one scored all, the other none
    assert len({r["doc_id"] for r in rows}) == len(rows) == 300


def test_a_second_scorer_fails_naming_the_holder_until_the_holder_dies(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    model = built_workspace / "models/main"
    params = tiny_params(tmp_path, small_corpus, f"score.model={model}")
    first = score_documents(**score_arguments(params).as_kwargs())  # makes the folder
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(first.out_dir / OUTPUT_LOCK), "120"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    try:
        with pytest.raises(DoclstmError) as busy:
            score_documents(**score_arguments(params, force=True).as_kwargs())
        assert str(busy.value).startswith(
            f"score output {first.out_dir} is being written by another scorer (pid {holder.pid} on "
        )
        assert str(busy.value).endswith(
            "; wait for it to finish, or set score.lock_wait_seconds to wait for it"
        )
        assert pq.read_table(first.out_dir).num_rows == first.documents  # --force did nothing
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    again = score_documents(
        **score_arguments(params, force=True).as_kwargs()
    )  # the OS freed the lock
    assert again.shards_skipped == 0 and again.documents == first.documents
