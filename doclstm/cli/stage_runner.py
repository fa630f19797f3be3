"""Which function runs each stage, and running one: the one place that imports tasks/.

The stage modules load torch and MLflow, which take seconds, so each is imported only
when its stage runs. `run_stage(name, params)` is what `doclstm stage NAME` (and so
dvc.yaml) and the tests call: the plain function, no Prefect.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from doclstm.errors import DoclstmError
from doclstm.pipeline.params import Params
from doclstm.pipeline.stages import STAGES, stage_arguments
from doclstm.pipeline.workspace_lock import workspace_lock

FUNCTIONS = {
    "ingest": "tasks.ingest:ingest_documents",
    "validate": "tasks.validate:validate_documents",
    "tokenize": "tasks.tokenize:tokenize_corpus",
    "pretrain": "tasks.pretrain:pretrain_encoder",
    "train": "tasks.train:train_model",
    "evaluate": "tasks.evaluate:evaluate_model",
    "register": "tasks.register:register_model",
    "gate": "tasks.gate:gate_challenger",
}


def stage_function(name: str) -> Any:
    """The plain stage function of `name`."""
    if name not in STAGES:
        close = difflib.get_close_matches(name, STAGES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DoclstmError(f"unknown stage {name!r}{hint}; stages: {', '.join(STAGES)}")
    module, _, function = FUNCTIONS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def run_stage(name: str, params: Params, repair: bool = False) -> Any:
    """Run stage `name`; `repair` (tokenize only) mends broken shards or fails."""
    if repair and name != "tokenize":
        raise DoclstmError(f"--repair applies to the tokenize stage, not {name}")
    extra = {"repair": True} if repair else {}
    with workspace_lock(params.base.workspace, params.base.lock_wait_seconds):
        return stage_function(name)(**stage_arguments(name, params).as_kwargs(), **extra)
