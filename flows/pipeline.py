"""Prefect flows for training: `train_pipeline`, and `pipeline_then_score` for `make run`.

Flows only compose: they load params once, call the stage tasks with the
paths of the workspace layout, and return the stage records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow

from doclstm.errors import DoclstmError
from doclstm.params import load_params
from doclstm.stages import stage_arguments
from doclstm.workspace_lock import workspace_lock
from flows.score import score_archive
from flows.summary import publish_training_summary
from tasks.evaluate import EvaluateResult, evaluate
from tasks.gate import GateResult, gate
from tasks.ingest import IngestResult, ingest
from tasks.pretrain import PretrainResult, pretrain
from tasks.register import RegisterResult, register
from tasks.score import ScoreResult
from tasks.tokenize import TokenizeResult, tokenize
from tasks.train import TrainResult, train
from tasks.validate import ValidateResult, validate


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
    score: ScoreResult


@flow(name="train_pipeline")
def train_pipeline(
    params_file: str = "params.yaml", overrides: list[str] | None = None
) -> TrainingRun:
    """ingest -> validate -> tokenize -> pretrain (when enabled) -> train -> evaluate ->
    register -> gate, then a summary."""
    params = load_params(Path(params_file), overrides or [])
    with workspace_lock(params.base.workspace, params.base.lock_wait_seconds):
        run = TrainingRun(
            ingest=ingest(*stage_arguments("ingest", params)),
            validate=validate(*stage_arguments("validate", params)),
            tokenize=tokenize(*stage_arguments("tokenize", params)),
            pretrain=pretrain(*stage_arguments("pretrain", params)),
            train=train(*stage_arguments("train", params)),
            evaluate=evaluate(*stage_arguments("evaluate", params)),
            register=register(*stage_arguments("register", params)),
            gate=gate(*stage_arguments("gate", params)),
        )
        publish_training_summary(run)
        return run


@flow(name="pipeline_then_score")
def pipeline_then_score(
    params_file: str = "params.yaml", overrides: list[str] | None = None
) -> PipelineRun:
    """Train, then score `score.input` with the champion the gate left (or `score.model`)."""
    params = load_params(Path(params_file), overrides or [])
    with workspace_lock(params.base.workspace, params.base.lock_wait_seconds):
        training = train_pipeline(params_file, overrides)
        model = params.score.model or training.gate.champion_uri
        if model is None:
            raise DoclstmError(
                f"nothing to score with: the gate did not promote {training.register.model_uri} "
                f"({training.gate.reason}) and there is no champion; set score.model to score "
                "anyway"
            )
        return PipelineRun(training, score_archive(params_file, overrides, model=model))
