"""Prefect flows for training: `train_pipeline`, and `pipeline_then_score` for `make run`.

Flows only compose: they take the typed `Params` (a deployment's params file and
`overrides` are parsed once, in flows/settings.py), call the stage tasks with the
arguments doclstm/pipeline/stages.py derives from them, and return the stage records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prefect import flow

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
        run = TrainingRun(
            ingest=ingest(**stage_arguments("ingest", settings).as_kwargs()),
            validate=validate(**stage_arguments("validate", settings).as_kwargs()),
            tokenize=tokenize(**stage_arguments("tokenize", settings).as_kwargs()),
            pretrain=pretrain(**stage_arguments("pretrain", settings).as_kwargs()),
            train=train(**stage_arguments("train", settings).as_kwargs()),
            evaluate=evaluate(**stage_arguments("evaluate", settings).as_kwargs()),
            register=register(**stage_arguments("register", settings).as_kwargs()),
            gate=gate(**stage_arguments("gate", settings).as_kwargs()),
        )
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
