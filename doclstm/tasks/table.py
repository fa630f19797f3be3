"""The stage table: each stage's name, plain function, arguments, Prefect task options,
code and outputs, in pipeline order. The command line (`doclstm stage NAME`), the
Prefect flows (doclstm/flows/stage_tasks.py makes their tasks from it), the check of
dvc.yaml (tests/test_dvc.py) and the stage fingerprints' code digests all derive
from `STAGES`.

`Stage.arguments(params)` returns a frozen record whose fields are the stage
function's parameters by name (`record.as_kwargs()` calls it) and whose `OUTPUTS`
name the fields it writes. Adding a stage is its module here with its plain
function, an arguments record and a row in `STAGES`, and its dvc.yaml entry (the
dvc.yaml test prints the deps to list). Stage modules load torch and MLflow, which
take seconds, so a stage's module is imported only when its function is asked for.

Why one module: the table is the one place the stages are spelled (names, order,
arguments, outputs); split, adding a stage would again mean editing several files.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from doclstm.config.params import (
    EvaluateParams,
    GateParams,
    IngestParams,
    Params,
    PretrainParams,
    RegisterParams,
    ScoreParams,
    TeacherParams,
    TokenizeParams,
    TrainParams,
    ValidateParams,
)
from doclstm.config.tracking import TrackingTarget, tracking_target, tracking_uri
from doclstm.config.workspace import (
    encoder_folder,
    initial_encoder,
    pinned_tokenizer,
    teacher_folder,
    teacher_transfer,
    workspace,
)
from doclstm.config.workspace_lock import workspace_lock
from doclstm.errors import DoclstmError
from doclstm.storage.code_digest import code_digest, relative_sources


@dataclass(frozen=True)
class StageArguments:
    """A stage's arguments by name; subclasses list the fields."""

    OUTPUTS: ClassVar[tuple[str, ...]] = ()  # the fields that name what the stage writes

    def as_kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments (shallow: params objects are passed, not copied)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def paths(self) -> list[Path]:
        """Every workspace path among the arguments (what dvc.yaml must declare)."""
        return [value for value in self.as_kwargs().values() if isinstance(value, Path)]

    def outputs(self) -> list[Path]:
        """The paths the stage writes (dvc.yaml's outs); the other paths it reads."""
        return [getattr(self, name) for name in self.OUTPUTS]


@dataclass(frozen=True)
class IngestArguments(StageArguments):
    OUTPUTS = ("out_dir", "quarantine_dir")
    params: IngestParams
    workspace_root: Path
    out_dir: Path
    quarantine_dir: Path


@dataclass(frozen=True)
class ValidateArguments(StageArguments):
    OUTPUTS = ("out_dir", "quarantine_dir", "report_dir")
    params: ValidateParams
    ingested_dir: Path
    out_dir: Path
    quarantine_dir: Path
    report_dir: Path


@dataclass(frozen=True)
class TokenizeArguments(StageArguments):
    OUTPUTS = ("out_dir",)
    params: TokenizeParams
    validated_dir: Path
    out_dir: Path
    pinned: Path | None


@dataclass(frozen=True)
class PretrainArguments(StageArguments):
    OUTPUTS = ("out_dir",)
    params: PretrainParams
    train_params: TrainParams
    seed: int
    tokens_dir: Path
    out_dir: Path
    tracking: TrackingTarget


@dataclass(frozen=True)
class TeacherArguments(StageArguments):
    OUTPUTS = ("out_dir", "transfer_dir")
    params: TeacherParams
    train_params: TrainParams
    seed: int
    tokens_dir: Path
    out_dir: Path
    transfer_dir: Path
    tracking: TrackingTarget


@dataclass(frozen=True)
class TrainArguments(StageArguments):
    OUTPUTS = ("out_dir",)
    params: TrainParams
    seed: int
    tokens_dir: Path
    out_dir: Path
    tracking: TrackingTarget
    encoder_dir: Path | None
    transfer_dir: Path | None


@dataclass(frozen=True)
class EvaluateArguments(StageArguments):
    OUTPUTS = ("out_dir",)
    params: EvaluateParams
    model_dir: Path
    tokens_dir: Path
    out_dir: Path


@dataclass(frozen=True)
class RegisterArguments(StageArguments):
    OUTPUTS = ("out_file",)
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
    OUTPUTS = ("reports_dir",)
    params: GateParams
    reports_dir: Path
    validated_dir: Path
    model_cache: Path
    batch_tokens: int


@dataclass(frozen=True)
class ScoreArguments(StageArguments):
    OUTPUTS = ()  # score.output, outside the workspace's paths: dvc.yaml names it
    params: ScoreParams
    tracking: str
    workspace_root: Path
    model_cache: Path
    force: bool = False
    metrics_in_background: bool = False


def training_target(params: Params) -> TrackingTarget:
    """Where trainings log: the configured MLflow store and experiment."""
    return tracking_target(
        params.register_.tracking_uri, params.register_.experiment, workspace(params).mlflow
    )


def _model_dir(params: Params) -> Path:
    return workspace(params).model_dir(params.train.run_name)


def _ingest(params: Params) -> IngestArguments:
    ws = workspace(params)
    return IngestArguments(params.ingest, ws.root, ws.ingested, ws.quarantine)


def _validate(params: Params) -> ValidateArguments:
    ws = workspace(params)
    return ValidateArguments(
        params.validate_, ws.ingested, ws.validated, ws.quarantine, ws.validation_reports
    )


def _tokenize(params: Params) -> TokenizeArguments:
    ws = workspace(params)
    return TokenizeArguments(params.tokenize, ws.validated, ws.tokens, pinned_tokenizer(params))


def _pretrain(params: Params) -> PretrainArguments:
    return PretrainArguments(
        params.pretrain,
        params.train,
        params.base.seed,
        workspace(params).tokens,
        encoder_folder(params),
        training_target(params),
    )


def _teacher(params: Params) -> TeacherArguments:
    return TeacherArguments(
        params.teacher,
        params.train,
        params.base.seed,
        workspace(params).tokens,
        teacher_folder(params),
        workspace(params).transfer,
        training_target(params),
    )


def _train(params: Params) -> TrainArguments:
    return TrainArguments(
        params.train,
        params.base.seed,
        workspace(params).tokens,
        _model_dir(params),
        training_target(params),
        initial_encoder(params),
        teacher_transfer(params),
    )


def _evaluate(params: Params) -> EvaluateArguments:
    ws = workspace(params)
    return EvaluateArguments(params.evaluate, _model_dir(params), ws.tokens, ws.reports)


def _register(params: Params) -> RegisterArguments:
    ws = workspace(params)
    return RegisterArguments(
        params.register_,
        params.model_dump(mode="json", by_alias=True),
        _model_dir(params),
        ws.reports,
        ws.tokens,
        ws.validation_reports,
        training_target(params),
        ws.registration,
    )


def _gate(params: Params) -> GateArguments:
    ws = workspace(params)
    return GateArguments(
        params.gate, ws.reports, ws.validated, ws.model_cache, params.evaluate.batch_tokens
    )


@dataclass(frozen=True)
class Stage:
    """One row of the stage table."""

    name: str  # the module doclstm/tasks/<name>.py, dvc.yaml's stage, the Prefect task
    function: str  # the plain function in that module
    arguments: Callable[[Params], StageArguments]
    # Prefect retries a failure only when it is transient I/O (a server, an object
    # store: doclstm/flows/retry_policy.py); a stage that reads only local files never.
    retries: bool = False
    # `gpu`: a Prefect tag concurrency limit of 1 (infra/prefect.yaml) keeps two
    # trainings off one GPU; without that limit on the server the tag changes nothing.
    tags: tuple[str, ...] = ()
    training: bool = True  # a stage of `train_pipeline`; score runs on its own

    @property
    def module(self) -> str:
        return f"doclstm.tasks.{self.name}"

    def load(self) -> Callable[..., Any]:
        """The plain stage function (imports its module)."""
        function: Callable[..., Any] = getattr(importlib.import_module(self.module), self.function)
        return function

    def code(self) -> list[str]:
        """The source files the stage's output depends on (dvc.yaml's code deps)."""
        return relative_sources(self.module)


STAGES: tuple[Stage, ...] = (
    Stage("ingest", "ingest_documents", _ingest, retries=True),
    Stage("validate", "validate_documents", _validate),
    Stage("tokenize", "tokenize_corpus", _tokenize),
    Stage("pretrain", "pretrain_encoder", _pretrain, tags=("gpu",)),
    Stage("teacher", "fine_tune_teacher", _teacher, tags=("gpu",)),
    Stage("train", "train_model", _train, tags=("gpu",)),
    Stage("evaluate", "evaluate_model", _evaluate),
    Stage("register", "register_model", _register, retries=True),
    Stage("gate", "gate_challenger", _gate, retries=True),
    Stage("score", "score_documents", lambda params: score_arguments(params), retries=True,
          training=False),  # its own command and flow: `doclstm score`, `score_archive`
)  # fmt: skip
TRAINING_STAGES = tuple(stage for stage in STAGES if stage.training)


def training_code() -> str:
    """The digest of the code of every training stage: what the nightly training key
    holds, so that new code retrains even on the same data and params."""
    return code_digest(*(stage.module for stage in TRAINING_STAGES))


def stage(name: str) -> Stage:
    """The row of stage `name`; an unknown name is refused with the closest one."""
    for row in STAGES:
        if row.name == name:
            return row
    names = [row.name for row in STAGES]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DoclstmError(f"unknown stage {name!r}{hint}; stages: {', '.join(names)}")


def stage_arguments(name: str, params: Params) -> StageArguments:
    """The arguments of stage `name`'s function, all derived from `params`."""
    return stage(name).arguments(params)


def run_stage(name: str, params: Params, repair: bool = False) -> Any:
    """Run stage `name`'s plain function, no Prefect, with the workspace locked; `repair`
    (tokenize only) mends broken shards or fails. What `doclstm stage NAME`, and so
    dvc.yaml, runs."""
    if repair and name != "tokenize":
        raise DoclstmError(f"--repair applies to the tokenize stage, not {name}")
    row = stage(name)
    extra = {"repair": True} if repair else {}
    with workspace_lock(params.base.workspace, params.base.lock_wait_seconds):
        return row.load()(**row.arguments(params).as_kwargs(), **extra)


def score_arguments(
    params: Params, force: bool = False, metrics_in_background: bool = False
) -> ScoreArguments:
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
        metrics_in_background,
    )
