"""The score stage in one process: the source read and scored shard after shard.

What `doclstm score` runs with `score.runner: inline`, and what the `score` Prefect task
(tasks/score.py) wraps; the stage itself is described there. On a terminal a bar shows
the documents done, documents/s, and the time left where the source's size is cheap to
know (doclstm/sources/resolve.documents_hint).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from doclstm.pipeline.params import ScoreParams
from doclstm.pipeline.progress import ScoreProgress
from doclstm.scoring.job import predictor, score_job
from doclstm.scoring.shards import (
    ScoreResult,
    ShardDone,
    completed_shard,
    input_shards,
    summarize_score,
    write_output_shard,
)
from doclstm.sources.resolve import documents_hint


def score_documents(
    params: ScoreParams,
    tracking: str,
    workspace_root: Path,
    model_cache: Path,
    force: bool = False,
) -> ScoreResult:
    """Score `params.input` with `params.model` into `params.output`, in this process."""
    with score_job(params, tracking, workspace_root, model_cache, force) as job:
        bar = ScoreProgress(documents_hint(job.source))
        with bar:
            scorer = replace(predictor(job), on_batch=bar.advance)
            outcomes: list[ShardDone] = []
            for index, chunk in enumerate(input_shards(job)):
                done = completed_shard(job, index)
                if done is not None:
                    bar.advance(len(chunk), scored=False)
                else:
                    done = write_output_shard(job, index, chunk, scorer)
                    bar.advance(done.unscored)  # the scored ones advanced batch by batch
                outcomes.append(done)
        return summarize_score(job, outcomes)
