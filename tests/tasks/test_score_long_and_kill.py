"""Scoring: long documents read whole in windows, and exactly once through a SIGKILL."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from doclstm.models.inference import predict_probabilities
from doclstm.models.model_folder import load_model_dir
from doclstm.tasks.score import score_documents
from doclstm.tasks.table import run_stage, score_arguments
from doclstm.text.tokenizer import encode_ids
from tests.conftest import tiny_params
from tests.local_servers import prefect_env, prefect_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def unidirectional(built_workspace: Path, small_corpus: Path, tmp_path_factory) -> Path:
    workspace = tmp_path_factory.mktemp("unidirectional")
    shutil.copytree(built_workspace, workspace, dirs_exist_ok=True)
    run_stage("train", tiny_params(workspace, small_corpus, "train.model.bidirectional=false"))
    return workspace / "models/main"


def test_long_documents_are_read_whole_in_windows_by_a_unidirectional_model(
    unidirectional: Path, small_corpus: Path, tmp_path: Path
) -> None:
    params = tiny_params(
        tmp_path, small_corpus, f"score.model={unidirectional}", "score.batch_tokens=2048"
    )
    result = score_documents(**score_arguments(params).as_kwargs())
    rows = pq.read_table(result.out_dir).to_pylist()
    window = load_model_dir(unidirectional).max_tokens
    long = [r for r in rows if r["tokens"] > window]
    assert len(long) > 100 and result.windowed == len(long) and result.truncated == 0
    assert {r["long_document"] for r in long} == {"windowed"}
    assert all(r["long_document"] is None for r in rows if r["tokens"] <= window)

    # The same probabilities as one pass over each whole document, no window at all.
    loaded = load_model_dir(unidirectional)
    texts = {
        p.relative_to(small_corpus).as_posix(): p.read_text() for p in small_corpus.glob("*/*")
    }
    sample = long[:40]
    ids = encode_ids(loaded.tokenizer, [texts[r["doc_id"]] for r in sample])
    whole = predict_probabilities(loaded.model, [np.asarray(x) for x in ids], 10**9)
    np.testing.assert_allclose(
        np.asarray([r["probabilities"] for r in sample]), whole, atol=1e-5, rtol=0
    )


def test_a_bidirectional_model_truncates_and_counts(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    model = built_workspace / "models/main"
    params = tiny_params(tmp_path, small_corpus, f"score.model={model}")
    result = score_documents(**score_arguments(params).as_kwargs())
    rows = pq.read_table(result.out_dir).to_pylist()
    long = [r for r in rows if r["tokens"] > load_model_dir(model).max_tokens]
    assert result.windowed == 0 and result.truncated == len(long) > 100
    assert {r["long_document"] for r in long} == {"truncated"}


def _score_command(model: Path, corpus: Path, out: Path, runner: str = "inline") -> list[str]:
    # Its own workspace beside the output: the checkout's is not this test's to lock,
    # and the other runner's case may be scoring at the same time in another worker.
    return [
        *(sys.executable, "-m", "doclstm.cli", "score", "--runner", runner),
        *("--model", str(model), "--input", str(corpus), "--output", str(out)),
        *("--params", str(ROOT / "params.yaml"), "--set", f"base.workspace={out.parent}"),
        *("--set", "score.docs_per_shard=4", "--set", "score.batch_tokens=1024"),
    ]


@pytest.mark.parametrize("runner", ["inline", pytest.param("threads", marks=pytest.mark.slow)])
def test_sigkill_mid_archive_then_rerun_scores_every_document_exactly_once(
    built_workspace: Path, small_corpus: Path, tmp_path: Path, runner: str
) -> None:
    model = built_workspace / "models/main"
    killed_out, clean_out = tmp_path / "killed", tmp_path / "clean"
    subprocess.run(_score_command(model, small_corpus, clean_out), check=True, timeout=600)
    clean = pq.read_table(clean_out).to_pylist()
    shards = len(list(clean_out.glob("*/*/_done/*.json")))

    # Its own process group: the kill takes the scorer and everything it started (the
    # temporary Prefect server, the shard threads) at once, as a lost machine would.
    proc = subprocess.Popen(
        _score_command(model, small_corpus, killed_out, runner),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while len(list(killed_out.glob("*/*/_done/*.json"))) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, "finished before the kill"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = len(list(killed_out.glob("*/*/_done/*.json")))
    assert 3 <= done_at_kill < shards  # killed mid-archive
    if runner != "inline":
        assert any(killed_out.rglob("_input/part-*.parquet"))  # staged shards left behind

    rerun = _score_command(model, small_corpus, killed_out, runner)
    if runner == "inline":
        subprocess.run(rerun, check=True, timeout=600)
    else:  # on a real server, to read the flow run's logs afterwards
        with prefect_server(tmp_path / "prefect") as api:
            env = prefect_env(tmp_path / "prefect", api)
            subprocess.run(rerun, check=True, timeout=600, env=env)
            query = {"logs": {"task_run_id": {"is_null_": False}}, "sort": "TIMESTAMP_ASC"}
            logs = httpx.post(f"{api}/logs/filter", json=query).json()
        # The shards' own log lines are in their task runs' logs, not only on the console.
        assert any(entry["message"].startswith("score: shard") for entry in logs), logs[:5]
    assert not any(killed_out.rglob("_input"))  # staging cleared once all are complete
    resumed = pq.read_table(killed_out).to_pylist()
    ids = [r["doc_id"] for r in resumed]
    assert len(ids) == len(set(ids)) == len(clean)  # every document exactly once
    strip = lambda r: {k: v for k, v in r.items() if k != "scored_at"}  # noqa: E731
    assert [strip(r) for r in resumed] == [strip(r) for r in clean]


@pytest.mark.parametrize("dataset", ["data/ingested", "data/validated"])
def test_a_dataset_the_pipeline_wrote_scores_as_it_is(
    built_workspace: Path, small_corpus: Path, tmp_path: Path, dataset: str
) -> None:
    params = tiny_params(
        tmp_path,
        small_corpus,
        f"score.model={built_workspace / 'models/main'}",
        f"score.input={built_workspace / dataset}",
    )
    result = score_documents(**score_arguments(params).as_kwargs())
    parts = sorted((built_workspace / dataset).glob("part-*.parquet"))
    expected = [
        i for p in parts for i in pq.read_table(p, columns=["doc_id"])["doc_id"].to_pylist()
    ]
    rows = pq.read_table(result.out_dir).to_pylist()
    assert [r["doc_id"] for r in rows] == expected  # its own ids, in its order
    assert result.unscored == 0 and all(r["predicted"] for r in rows)
