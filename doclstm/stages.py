"""Each stage called with its params group and workspace paths: the one wiring that the
CLI, dvc.yaml (through the CLI) and the Prefect flows share.

`run_stage(name, params)` runs the plain function; `STAGES` lists the names in
pipeline order. The flows call the Prefect tasks with the same arguments
through `stage_arguments`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from doclstm.errors import DoclstmError
from doclstm.layout import Workspace
from doclstm.params import Params
from doclstm.tracking import tracking_target, tracking_uri
from doclstm.workspace_lock import workspace_lock

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
_FUNCTIONS = {
    "ingest": "tasks.ingest:ingest_documents",
    "validate": "tasks.validate:validate_documents",
    "tokenize": "tasks.tokenize:tokenize_corpus",
    "pretrain": "tasks.pretrain:pretrain_encoder",
    "train": "tasks.train:train_model",
    "evaluate": "tasks.evaluate:evaluate_model",
    "register": "tasks.register:register_model",
    "gate": "tasks.gate:gate_challenger",
}
REGISTRATION_FILE = "registration.json"


def workspace(params: Params) -> Workspace:
    return Workspace(params.base.workspace)


def stage_arguments(name: str, params: Params) -> tuple[Any, ...]:
    """Positional arguments of stage `name`'s function, all derived from `params`."""
    ws = workspace(params)
    model_dir = ws.model_dir(params.train.run_name)
    encoder_dir = encoder_folder(params)
    target = tracking_target(params.register_.tracking_uri, params.register_.experiment, ws.mlflow)
    arguments: dict[str, tuple[Any, ...]] = {
        "ingest": (params.ingest, ws.root, ws.ingested, ws.quarantine),
        "validate": (
            params.validate_,
            ws.ingested,
            ws.validated,
            ws.quarantine,
            ws.validation_reports,
        ),
        "tokenize": (params.tokenize, ws.validated, ws.tokens, pinned_tokenizer(params)),
        "pretrain": (
            params.pretrain,
            params.train,
            params.base.seed,
            ws.tokens,
            encoder_dir,
            target,
        ),
        "train": (
            params.train,
            params.base.seed,
            ws.tokens,
            model_dir,
            target,
            initial_encoder(params),
        ),
        "evaluate": (params.evaluate, model_dir, ws.tokens, ws.reports),
        "register": (
            params.register_,
            params.model_dump(mode="json", by_alias=True),
            model_dir,
            ws.reports,
            ws.tokens,
            ws.validation_reports,
            target,
            ws.reports / REGISTRATION_FILE,
        ),
        "gate": (
            params.gate,
            ws.reports,
            ws.validated,
            ws.model_cache,
            params.evaluate.batch_tokens,
        ),
    }
    if name not in arguments:
        raise DoclstmError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    return arguments[name]


def encoder_folder(params: Params) -> Path:
    """Where the pretrain stage writes the encoder `train` starts from."""
    return workspace(params).model_dir(f"{params.train.run_name}.encoder")


def pinned_tokenizer(params: Params) -> Path | None:
    """The kept tokenizer.json `tokenize` uses as is (`tokenize.tokenizer`), if any; only
    tokenize reads it (`doclstm.tokenizer.pinned_sha256` says when it is missing)."""
    return workspace(params).root / params.tokenize.tokenizer if params.tokenize.tokenizer else None


def initial_encoder(params: Params) -> Path | None:
    """The encoder `train` starts from: `train.init_from`, else the pretrain stage's."""
    if params.train.init_from:
        return workspace(params).root / params.train.init_from
    return encoder_folder(params) if params.pretrain.enabled else None


def stage_function(name: str) -> Any:
    """The plain stage function (imported late: torch and MLflow load slowly)."""
    if name not in STAGES:
        raise DoclstmError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    module, _, function = _FUNCTIONS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def run_stage(name: str, params: Params, repair: bool = False) -> Any:
    """Run stage `name`; `repair` (tokenize only) mends broken shards or fails."""
    if repair and name != "tokenize":
        raise DoclstmError(f"--repair applies to the tokenize stage, not {name}")
    extra = {"repair": True} if repair else {}
    with workspace_lock(params.base.workspace, params.base.lock_wait_seconds):
        return stage_function(name)(*stage_arguments(name, params), **extra)


def score_arguments(params: Params, force: bool = False) -> tuple[Any, ...]:
    """The score stage's arguments; an empty `score.model` means the registry's champion."""
    ws = workspace(params)
    score = params.score
    if not score.model:
        score = score.model_copy(
            update={"model": f"models:/{params.register_.model_name}@champion"}
        )
    return (
        score,
        tracking_uri(params.register_.tracking_uri, ws.mlflow),
        ws.root,
        ws.model_cache,
        force,
    )
