"""The `tune` Prefect flow: the search of doclstm/tuning/search.py as one task, and its
study's table as the flow run's artifact."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from doclstm.config.params import Params
from doclstm.flows.settings import flow_params
from doclstm.tuning.search import TuneResult, tune_settings


@flow(name="tune")
def tune(params: Params | str = "params.yaml", overrides: list[str] | None = None) -> TuneResult:
    """Search `tune.space` on val; the tuned file extends `params` when it names a file."""
    settings = flow_params(params, overrides)
    base_file = Path(params) if isinstance(params, str) else None
    result: TuneResult = task(name="tune_settings", tags=["gpu"])(tune_settings)(
        settings, base_file
    )
    create_markdown_artifact(
        markdown=result.markdown(), key="tune-summary", description=f"study {result.study}"
    )
    return result
