"""Prefect flows for training: `train_pipeline`, and `pipeline_then_score` for `make run`.

Flows only compose: they take the typed `Params` (a deployment's params file and
`overrides` are parsed once, in doclstm/flows/settings.py), run the training stages of
the stage table (doclstm/tasks/table.py) as their Prefect tasks with the arguments it
derives, and return the stage records.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow

from doclstm.config.params import Params
from doclstm.config.workspace import workspace
from doclstm.config.workspace_lock import workspace_lock
from doclstm.flows.artifacts import publish_gate_decision, publish_training_summary
from doclstm.flows.records import PipelineRun, TrainingRun
from doclstm.flows.score import score_archive
from doclstm.flows.settings import flow_params
from doclstm.flows.stage_tasks import stage_task
from doclstm.tasks.table import TRAINING_STAGES

log = logging.getLogger(__name__)


@flow(name="train_pipeline")
def train_pipeline(
    params: Params | str = "params.yaml", overrides: list[str] | None = None
) -> TrainingRun:
    """ingest -> validate -> tokenize -> pretrain (when enabled) -> train -> evaluate ->
    register -> gate, then a summary; `params` typed, or a params file and `overrides`."""
    settings = flow_params(params, overrides)
    with workspace_lock(settings.base.workspace, settings.base.lock_wait_seconds):
        # The stages hand each other paths, not results, so Prefect would see no edges;
        # waiting on the stage before draws the pipeline's order in the run graph.
        done: dict[str, Any] = {}
        for stage in TRAINING_STAGES:
            previous = list(done.values())[-1:]
            done[stage.name] = stage_task(stage.name)(
                **stage.arguments(settings).as_kwargs(), wait_for=previous
            )
        run = TrainingRun(done)
        publish_gate_decision(run["gate"], workspace(settings).reports)
        publish_training_summary(run)
        return run


@flow(name="pipeline_then_score")
def pipeline_then_score(
    params: Params | str = "params.yaml", overrides: list[str] | None = None
) -> PipelineRun:
    """Train, then score `score.input` with the champion the gate left (or `score.model`)."""
    settings = flow_params(params, overrides)
    with workspace_lock(settings.base.workspace, settings.base.lock_wait_seconds):
        training = train_pipeline(settings)
        model = settings.score.model or training["gate"].champion_uri
        if model is None:  # the gate's answer, not a failure: the run ends with its summary
            why = (
                f"nothing to score with: the gate did not promote {training['register'].model_uri} "
                f"({training['gate'].reason}) and there is no champion; set score.model to score "
                "anyway"
            )
            log.warning("%s", why)
            return PipelineRun(training, None, why)
        return PipelineRun(training, score_archive(settings, model=model))
