"""Prefect flows for training: `train_pipeline`, and `pipeline_then_score` for `make run`.

Flows only compose: they take the typed `Params` (a deployment's params file and
`overrides` are parsed once, in flows/settings.py), call the stage tasks with the
arguments doclstm/pipeline/stages.py derives from them, and return the stage records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from prefect import Task, flow

from doclstm.pipeline.params import Params
from doclstm.pipeline.stages import stage_arguments, workspace
from doclstm.pipeline.workspace_lock import workspace_lock
from doclstm.scoring.shards import ScoreResult
from flows.score import score_archive
from flows.settings import flow_params
from flows.summary import publish_gate_decision, publish_training_summary
from tasks.evaluate import EvaluateResult, evaluate
from tasks.gate import GateResult, gate
from tasks.ingest import IngestResult, ingest
from tasks.pretrain import PretrainResult, pretrain
from tasks.register import RegisterResult, register
from tasks.tokenize import TokenizeResult, tokenize
from tasks.train import TrainResult, train
from tasks.validate import ValidateResult, validate

log = logging.getLogger(__name__)
# The training stages in their order: each starts once the one before has finished.
STAGE_TASKS: dict[str, Task[..., Any]] = {
    "ingest": ingest,
    "validate": validate,
    "tokenize": tokenize,
    "pretrain": pretrain,
    "train": train,
    "evaluate": evaluate,
    "register": register,
    "gate": gate,
}


@dataclass(frozen=True)
class TrainingRun:
    ingest: IngestResult
    validate: ValidateResult
    tokenize: TokenizeResult
    pretrain: PretrainResult
    train: TrainResult
    evaluate: EvaluateResult
    register: RegisterResult
    gate: GateResult


@dataclass(frozen=True)
class PipelineRun:
    training: TrainingRun
    score: ScoreResult | None  # None: nothing to score with (`not_scored` says why)
    not_scored: str | None = None


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
        for name, stage_task in STAGE_TASKS.items():
            previous = list(done.values())[-1:]
            done[name] = stage_task(
                **stage_arguments(name, settings).as_kwargs(), wait_for=previous
            )
        run = TrainingRun(**done)
        publish_gate_decision(run.gate, workspace(settings).reports)
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
        model = settings.score.model or training.gate.champion_uri
        if model is None:  # the gate's answer, not a failure: the run ends with its summary
            why = (
                f"nothing to score with: the gate did not promote {training.register.model_uri} "
                f"({training.gate.reason}) and there is no champion; set score.model to score "
                "anyway"
            )
            log.warning("%s", why)
            return PipelineRun(training, None, why)
        return PipelineRun(training, score_archive(settings, model=model))
