"""Each stage's arguments, derived from the typed params and the workspace: the one wiring
that the CLI, dvc.yaml (through the CLI) and the Prefect flows share.

`stage_arguments(name, params)` returns a frozen record per stage whose fields are the
stage function's parameters by name (`record.as_kwargs()` calls it); `score_arguments`
does the same for scoring. `STAGES` lists the names in pipeline order. Which function
runs a stage is the command-line edge's business (doclstm/cli/stage_runner.py): this
module imports no stage code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from doclstm.errors import DoclstmError
from doclstm.pipeline.params import (
    EvaluateParams,
    GateParams,
    IngestParams,
    Params,
    PretrainParams,
    RegisterParams,
    ScoreParams,
    TokenizeParams,
    TrainParams,
    ValidateParams,
)
from doclstm.pipeline.tracking import TrackingTarget, tracking_target, tracking_uri
from doclstm.pipeline.workspace import Workspace

STAGES = (
    "ingest",
    "validate",
    "tokenize",
    "pretrain",
    "train",
    "evaluate",
    "register",
    "gate",
)


@dataclass(frozen=True)
class StageArguments:
    """A stage's arguments by name; subclasses list the fields."""

    def as_kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments (shallow: params objects are passed, not copied)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def paths(self) -> list[Path]:
        """Every workspace path among the arguments (what dvc.yaml must declare)."""
        return [value for value in self.as_kwargs().values() if isinstance(value, Path)]


@dataclass(frozen=True)
class IngestArguments(StageArguments):
    params: IngestParams
    workspace_root: Path
    out_dir: Path
    quarantine_dir: Path


@dataclass(frozen=True)
class ValidateArguments(StageArguments):
    params: ValidateParams
    ingested_dir: Path
    out_dir: Path
    quarantine_dir: Path
    report_dir: Path


@dataclass(frozen=True)
class TokenizeArguments(StageArguments):
    params: TokenizeParams
    validated_dir: Path
    out_dir: Path
    pinned: Path | None


@dataclass(frozen=True)
class PretrainArguments(StageArguments):
    params: PretrainParams
    train_params: TrainParams
    seed: int
    tokens_dir: Path
    out_dir: Path
    tracking: TrackingTarget


@dataclass(frozen=True)
class TrainArguments(StageArguments):
    params: TrainParams
    seed: int
    tokens_dir: Path
    out_dir: Path
    tracking: TrackingTarget
    encoder_dir: Path | None


@dataclass(frozen=True)
class EvaluateArguments(StageArguments):
    params: EvaluateParams
    model_dir: Path
    tokens_dir: Path
    out_dir: Path


@dataclass(frozen=True)
class RegisterArguments(StageArguments):
    params: RegisterParams
    all_params: dict[str, Any]
    model_dir: Path
    reports_dir: Path
    tokens_dir: Path
    validation_dir: Path
    target: TrackingTarget
    out_file: Path


@dataclass(frozen=True)
class GateArguments(StageArguments):
    params: GateParams
    reports_dir: Path
    validated_dir: Path
    model_cache: Path
    batch_tokens: int


@dataclass(frozen=True)
class ScoreArguments(StageArguments):
    params: ScoreParams
    tracking: str
    workspace_root: Path
    model_cache: Path
    force: bool = False


def workspace(params: Params) -> Workspace:
    return Workspace(params.base.workspace)


def stage_arguments(name: str, params: Params) -> StageArguments:
    """The arguments of stage `name`'s function, all derived from `params`."""
    ws = workspace(params)
    model_dir = ws.model_dir(params.train.run_name)
    target = tracking_target(params.register_.tracking_uri, params.register_.experiment, ws.mlflow)
    if name == "ingest":
        return IngestArguments(params.ingest, ws.root, ws.ingested, ws.quarantine)
    if name == "validate":
        return ValidateArguments(
            params.validate_, ws.ingested, ws.validated, ws.quarantine, ws.validation_reports
        )
    if name == "tokenize":
        return TokenizeArguments(params.tokenize, ws.validated, ws.tokens, pinned_tokenizer(params))
    if name == "pretrain":
        return PretrainArguments(
            params.pretrain,
            params.train,
            params.base.seed,
            ws.tokens,
            encoder_folder(params),
            target,
        )
    if name == "train":
        return TrainArguments(
            params.train, params.base.seed, ws.tokens, model_dir, target, initial_encoder(params)
        )
    if name == "evaluate":
        return EvaluateArguments(params.evaluate, model_dir, ws.tokens, ws.reports)
    if name == "register":
        return RegisterArguments(
            params.register_,
            params.model_dump(mode="json", by_alias=True),
            model_dir,
            ws.reports,
            ws.tokens,
            ws.validation_reports,
            target,
            ws.registration,
        )
    if name == "gate":
        return GateArguments(
            params.gate,
            ws.reports,
            ws.validated,
            ws.model_cache,
            params.evaluate.batch_tokens,
        )
    raise DoclstmError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")


def encoder_folder(params: Params) -> Path:
    """Where the pretrain stage writes the encoder `train` starts from."""
    return workspace(params).model_dir(f"{params.train.run_name}.encoder")


def pinned_tokenizer(params: Params) -> Path | None:
    """The kept tokenizer.json `tokenize` uses as is (`tokenize.tokenizer`), if any; only
    tokenize reads it (`doclstm.text.tokenizer.pinned_sha256` says when it is missing)."""
    return workspace(params).root / params.tokenize.tokenizer if params.tokenize.tokenizer else None


def initial_encoder(params: Params) -> Path | None:
    """The encoder `train` starts from: `train.init_from`, else the pretrain stage's."""
    if params.train.init_from:
        return workspace(params).root / params.train.init_from
    return encoder_folder(params) if params.pretrain.enabled else None


def score_arguments(params: Params, force: bool = False) -> ScoreArguments:
    """The score stage's arguments; an empty `score.model` means the registry's champion."""
    ws = workspace(params)
    score = params.score
    if not score.model:
        score = score.model_copy(
            update={"model": f"models:/{params.register_.model_name}@champion"}
        )
    return ScoreArguments(
        score,
        tracking_uri(params.register_.tracking_uri, ws.mlflow),
        ws.root,
        ws.model_cache,
        force,
    )
