"""Prefect flow `nightly_retrain`: retrain when the data or params changed, score on promotion.

It hashes the ingest sources the way DVC does and the params that shape a
model (doclstm/registry/training_key.py). When the champion, or a version already judged
after it, was trained on the same hashes, the run ends in seconds and says
which version and why. Otherwise it runs `train_pipeline`, records the hashes
on the MLflow run and the model version, and when the gate promotes the new
model it scores `score.input` with it. Deployed on a cron by infra/prefect.yaml.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prefect import flow, task

from doclstm.config.params import Params
from doclstm.config.tracking import tracking_uri
from doclstm.config.workspace import workspace
from doclstm.config.workspace_lock import workspace_lock
from doclstm.flows.artifacts import drift_line, publish_nightly_summary
from doclstm.flows.records import TrainingRun
from doclstm.flows.retry_policy import io_retry_options
from doclstm.flows.score import score_archive
from doclstm.flows.settings import flow_params
from doclstm.flows.training import train_pipeline
from doclstm.registry.training_key import (
    SkipCheck,
    TrainingKey,
    check_unchanged,
    record_training_key,
)
from doclstm.registry.training_key import training_key as compute_training_key
from doclstm.scoring.shards import ScoreResult
from doclstm.tasks.table import training_code

log = logging.getLogger(__name__)

hash_training_inputs = task(name="hash_training_inputs", **io_retry_options())(compute_training_key)
check_registry = task(name="check_registry", **io_retry_options())(check_unchanged)
record_key = task(name="record_training_key", **io_retry_options())(record_training_key)


@dataclass(frozen=True)
class NightlyRun:
    skipped: bool
    reason: str
    key: TrainingKey
    training: TrainingRun | None = None
    score: ScoreResult | None = None

    def markdown(self) -> str:
        lines = [f"# Nightly retrain: {self.outcome}", "", self.reason, ""]
        lines.append(f"- training key: `{self.key.digest[:16]}` ({self.key.describe()})")
        if self.training is not None:
            r, g = self.training["register"], self.training["gate"]
            lines.append(f"- trained {r.model_uri}: {g.decision} ({g.reason})")
            lines.append(f"- test {self.training['evaluate'].headline}")
        if self.score is not None:
            lines.append(
                f"- scored {self.score.documents} documents into `{self.score.out_dir}` "
                f"with version {self.score.model_version}"
            )
            lines.append(f"- drift: {drift_line(self.score)}")
        return "\n".join(lines) + "\n"

    @property
    def outcome(self) -> str:
        if self.skipped:
            return "skipped"
        assert self.training is not None
        return f"trained, {self.training['gate'].decision}"


@flow(name="nightly_retrain")
def nightly_retrain(
    params: Params | str = "params.yaml", overrides: list[str] | None = None
) -> NightlyRun:
    """Skip when nothing changed; else train_pipeline, and score_archive on promotion;
    `params` typed, or a params file and `overrides`."""
    settings = flow_params(params, overrides)
    ws = workspace(settings)
    uri = tracking_uri(settings.register_.tracking_uri, ws.mlflow)
    name = settings.register_.model_name
    with workspace_lock(settings.base.workspace, settings.base.lock_wait_seconds):
        key = hash_training_inputs(settings, ws.hash_state, training_code())
        check: SkipCheck = check_registry(uri, name, key)
        if check.skip:
            log.info("nightly_retrain: nothing to do: %s", check.reason)
            run = NightlyRun(True, check.reason, key)
        else:
            log.info("nightly_retrain: retraining: %s", check.reason)
            training = train_pipeline(settings)
            record_key(uri, name, training["register"].version, training["register"].run_id, key)
            promoted = training["gate"].decision == "promoted"
            scored = (
                score_archive(settings, model=training["gate"].champion_uri) if promoted else None
            )
            run = NightlyRun(False, check.reason, key, training, scored)
        publish_nightly_summary(run.markdown(), f"nightly retrain: {run.outcome}")
        return run
