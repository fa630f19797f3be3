"""Prefect flow `score_archive`: bulk-score a document source with a registered model."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from doclstm.params import load_params
from doclstm.stages import score_arguments
from doclstm.workspace_lock import workspace_lock
from flows.summary import publish_score_summary
from tasks.score import ScoreResult, score


@flow(name="score_archive")
def score_archive(
    params_file: str = "params.yaml",
    overrides: list[str] | None = None,
    model: str | None = None,
    force: bool = False,
) -> ScoreResult:
    """Score `score.input` into `score.output`; `model` overrides `score.model`."""
    extra = [f"score.model={model}"] if model else []
    params = load_params(Path(params_file), [*(overrides or []), *extra])
    with workspace_lock(params.base.workspace, params.base.lock_wait_seconds):
        arguments = score_arguments(params, force)
        result = score(*arguments)
        publish_score_summary(result, tracking_uri=arguments[1])
        return result
