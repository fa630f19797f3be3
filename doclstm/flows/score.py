"""Prefect flow `score_archive`: bulk-score a document source with a registered model.

With `score.runner: inline` one task reads and scores the source. With
`threads` or `ray`, the flow reads the source once, stages each input shard
that still needs scoring, and submits one `score-shard` task per shard to a
task runner: Prefect's thread pool, or prefect-ray's RayTaskRunner (a local
Ray instance, or the cluster at `score.ray_address` / RAY_ADDRESS). At most
`2 x score.workers` shards wait staged on disk at a time, so a slow model
never lets the whole archive pile up there. Every shard is still written
once with its completion marker, so a killed run resumes with any runner; the
coordinating process holds the output folder's lock while the shards run.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any

from prefect import flow, task
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from doclstm.config.params import Params, ScoreParams
from doclstm.config.workspace_lock import workspace_lock
from doclstm.flows.artifacts import publish_score_summary
from doclstm.flows.retry_policy import io_retry_options
from doclstm.flows.settings import flow_params
from doclstm.flows.stage_tasks import stage_task
from doclstm.scoring.job import ScoreJob, score_job
from doclstm.scoring.shards import (
    ScoreResult,
    ShardDone,
    score_input_shard,
    stage_input_shards,
    summarize_score,
)
from doclstm.tasks.table import ScoreArguments, score_arguments

score_shard = task(name="score-shard", **io_retry_options())(score_input_shard)


@flow(name="score_archive")
def score_archive(
    params: Params | str = "params.yaml",
    overrides: list[str] | None = None,
    model: str | None = None,
    force: bool = False,
) -> ScoreResult:
    """Score `score.input` into `score.output`; `model` overrides `score.model`; `params`
    typed, or a params file and `overrides`."""
    settings = flow_params(params, overrides)
    if model:
        score_params = settings.score.model_copy(update={"model": model})
        settings = settings.model_copy(update={"score": score_params})
    with workspace_lock(settings.base.workspace, settings.base.lock_wait_seconds):
        arguments = score_arguments(settings, force)
        if settings.score.runner == "inline":
            result = stage_task("score")(**arguments.as_kwargs())
        else:
            result = score_in_shards(arguments)
        publish_score_summary(result, tracking_uri=arguments.tracking)
        return result


def score_in_shards(arguments: ScoreArguments) -> ScoreResult:
    """`score_shards` on the task runner `score.runner` names."""
    with score_job(**arguments.as_kwargs()) as job:  # the output folder locked while shards run
        return score_shards.with_options(task_runner=task_runner(job.params))(job)


@flow(name="score_shards")
def score_shards(job: ScoreJob) -> ScoreResult:
    """Stage the input shards in order and score them as parallel tasks."""
    window = 2 * job.params.workers
    pending: deque[PrefectFuture[ShardDone]] = deque()
    outcomes: list[ShardDone] = []
    for staged in stage_input_shards(job):
        if isinstance(staged, ShardDone):
            outcomes.append(staged)
            continue
        while len(pending) >= window:  # backpressure: bounded staged shards
            outcomes.append(pending.popleft().result())
        pending.append(score_shard.submit(job, staged))
    outcomes.extend(future.result() for future in pending)
    return summarize_score(job, outcomes)


def task_runner(params: ScoreParams) -> TaskRunner[Any]:
    """The task runner `score.runner` names."""
    if params.runner == "ray":
        from prefect_ray.task_runners import RayTaskRunner

        address = params.ray_address or os.environ.get("RAY_ADDRESS") or None
        local = {"num_cpus": params.workers, "include_dashboard": False}
        return RayTaskRunner(address=address, init_kwargs=None if address else local)
    return ThreadPoolTaskRunner(max_workers=params.workers)
