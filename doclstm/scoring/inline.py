"""The score stage in one process: the source read and scored shard after shard.

What `doclstm score` runs with `score.runner: inline`, and what the `score` Prefect task
(tasks/score.py) wraps; the stage itself is described there.
"""

from __future__ import annotations

from pathlib import Path

from doclstm.pipeline.params import ScoreParams
from doclstm.scoring.job import predictor, score_job
from doclstm.scoring.shards import (
    ScoreResult,
    completed_shard,
    input_shards,
    summarize_score,
    write_output_shard,
)


def score_documents(
    params: ScoreParams,
    tracking: str,
    workspace_root: Path,
    model_cache: Path,
    force: bool = False,
) -> ScoreResult:
    """Score `params.input` with `params.model` into `params.output`, in this process."""
    with score_job(params, tracking, workspace_root, model_cache, force) as job:
        scorer = predictor(job)
        outcomes = [
            completed_shard(job, index) or write_output_shard(job, index, chunk, scorer)
            for index, chunk in enumerate(input_shards(job))
        ]
        return summarize_score(job, outcomes)
