"""score_archive with input shards as parallel Prefect tasks: threads, and a local Ray instance."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from doclstm.errors import DoclstmError
from doclstm.scoring.job import score_job
from doclstm.scoring.shards import ShardDone, score_input_shard, stage_input_shards
from doclstm.tasks.score import score_documents
from doclstm.tasks.table import score_arguments
from tests.conftest import TINY, tiny_params

ROOT = Path(__file__).resolve().parents[2]
SHARDS = ["score.docs_per_shard=40", "score.batch_tokens=2048"]


def _rows(out_dir: Path) -> list[dict]:
    return pq.read_table(out_dir).drop(["scored_at"]).to_pylist()


@pytest.fixture(scope="module")
def inline_rows(built_workspace: Path, small_corpus: Path, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("inline")
    params = tiny_params(
        out, small_corpus, f"score.model={built_workspace / 'models/main'}", *SHARDS
    )
    return _rows(score_documents(**score_arguments(params).as_kwargs()).out_dir)


def test_staged_shards_score_to_the_inline_rows_and_a_corrupt_one_is_staged_again(
    built_workspace: Path, small_corpus: Path, tmp_path: Path, inline_rows: list[dict]
) -> None:
    params = tiny_params(
        tmp_path, small_corpus, f"score.model={built_workspace / 'models/main'}", *SHARDS
    )
    with score_job(**score_arguments(params).as_kwargs()) as job:
        staged = list(stage_input_shards(job))
        assert staged == list(range(len(staged))) and len(staged) > 3
        first = job.staging / "part-00000.parquet"
        first.write_bytes(first.read_bytes()[:-20])  # torn by a crash, say
        with pytest.raises(DoclstmError, match="missing or corrupt"):
            score_input_shard(job, 0)
        assert list(stage_input_shards(job)) == staged  # restaged, the rest reused
        outcomes = [score_input_shard(job, i) for i in reversed(staged)]  # any order
        assert not any(job.staging.glob("*.parquet"))
        assert _rows(job.out_dir) == inline_rows
        retried = score_input_shard(job, 0)  # a task retry after its output was written
        assert retried.skipped and retried.documents == outcomes[-1].documents
        again = list(stage_input_shards(job))  # all complete: nothing to stage
        assert all(isinstance(o, ShardDone) and o.skipped for o in again)
        assert sum(o.documents for o in outcomes) == len(inline_rows)


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["threads", "ray"])
def test_score_archive_fans_shards_out_to_a_task_runner(
    prefect_server: None,
    built_workspace: Path,
    small_corpus: Path,
    tmp_path: Path,
    inline_rows: list[dict],
    runner: str,
) -> None:
    from doclstm.flows.score import score_archive

    overrides = [
        f"base.workspace={tmp_path}",
        f"score.input={small_corpus}",
        f"score.model={built_workspace / 'models/main'}",
        f"score.runner={runner}",
        "score.workers=2",
        *TINY,
        *SHARDS,
    ]
    result = score_archive(str(ROOT / "params.yaml"), overrides)
    assert result.documents == len(inline_rows) and result.shards_skipped == 0
    assert _rows(result.out_dir) == inline_rows
    assert not (result.out_dir / "_input").exists()
    again = score_archive(str(ROOT / "params.yaml"), overrides)  # exactly once: all skipped
    assert again.shards_skipped == again.shards == result.shards
