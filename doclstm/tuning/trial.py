"""One trial: the train stage's function with the trial's settings, its val curve going
to the pruner epoch by epoch.

A trial runs in the search's own process (`tune.workers` 1) or in a worker process of
its pool; either way it opens the study from its SQLite file by name, so the pruner sees
every trial's curve. Its model folder is `studies/<name>/trials/<key>`, the key a digest
of its settings: an interrupted trial queued again finds its resume checkpoint there.
The folder goes once the trial is recorded; the MLflow run keeps its curves.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from doclstm.config.params import Params
from doclstm.config.tracking import TrackingTarget
from doclstm.config.workspace import initial_encoder, teacher_transfer, workspace
from doclstm.console.progress import inner_bars_off
from doclstm.storage.fingerprint import sha256_json
from doclstm.storage.manifest import StageManifest
from doclstm.training.checkpoint import resume_dir
from doclstm.tuning.study import make_pruner

log = logging.getLogger(__name__)
State = Literal["complete", "pruned", "failed"]
REASON_CHARS = 300  # of a failed trial's reason, as recorded with it


@dataclass(frozen=True)
class TrialPlan:
    """What a worker needs to run one trial (it pickles: plain values and paths)."""

    number: int
    trial_id: int  # the trial's id in the study's storage
    settings: dict[str, Any]  # the searched settings' values
    params: dict[str, Any]  # the trial's whole settings, as params.yaml writes them
    storage_url: str
    study_name: str
    out_dir: Path
    tracking: TrackingTarget | None
    threads: int = 0  # torch threads in a worker process; 0: as they are


@dataclass(frozen=True)
class TrialOutcome:
    number: int
    state: State
    value: float | None  # the trained model's val metric (train.monitor): shipped_value
    best_epoch: int | None
    epochs: int  # epochs trained (a pruned trial's fewer)
    seconds: float
    reason: str = ""  # why it was pruned or failed


def trial_key(settings: dict[str, Any]) -> str:
    """The name of a trial's folder: the same settings, the same folder."""
    return sha256_json(settings)[:12]


def run_trial(plan: TrialPlan) -> TrialOutcome:
    """Train the trial; pruned and failed trials are outcomes, not exceptions (Ctrl-C
    is, and leaves the resume checkpoint for the trial's rerun)."""
    import optuna

    params = Params.model_validate(plan.params)
    monitor = params.train.monitor
    study = optuna.load_study(
        study_name=plan.study_name,
        storage=plan.storage_url,
        pruner=make_pruner(params.tune.pruner),
    )
    trial = optuna.trial.Trial(study, plan.trial_id)
    curve: list[float] = []

    def report(record: dict[str, Any]) -> None:
        curve.append(float(record[monitor]))
        epoch = int(record["epoch"])
        trial.report(curve[-1], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"{monitor} {curve[-1]:.4f} at epoch {epoch} lags")

    started = time.perf_counter()
    state: State
    try:
        if plan.threads:
            import torch

            torch.set_num_threads(plan.threads)
        with inner_bars_off():
            result = _train(params, plan, report)
        history = json.loads((plan.out_dir / "history.json").read_text())
        summary = StageManifest.load(plan.out_dir).summary
        value = shipped_value(summary, history, monitor)
        outcome = TrialOutcome(
            plan.number, "complete", value, result.best_epoch, len(history), _since(started)
        )
    except optuna.TrialPruned as exc:
        state, reason = "pruned", str(exc)
        outcome = TrialOutcome(plan.number, state, None, None, len(curve), _since(started), reason)
    except Exception as exc:  # recorded as failed, with its reason; the search goes on
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:REASON_CHARS]
        log.warning("tune: trial %d failed: %s", plan.number, reason)
        outcome = TrialOutcome(
            plan.number, "failed", None, None, len(curve), _since(started), reason
        )
    shutil.rmtree(plan.out_dir, ignore_errors=True)
    shutil.rmtree(resume_dir(plan.out_dir), ignore_errors=True)
    return outcome


def shipped_value(summary: dict[str, Any], history: list[dict[str, Any]], monitor: str) -> float:
    """The val metric of the model train writes, which is what a trial is judged by: with
    a token bag, the blend at the RNN's share training picked (measured before val is
    trained on; the epochs' curve is the RNN's alone); without one, the best epoch's."""
    bag = summary.get("bag") or {}
    by_share = bag.get(f"{monitor}_by_rnn_share")
    if by_share and bag.get("rnn_share") is not None:
        return float(by_share[f"{bag['rnn_share']:g}"])
    return float(history[summary["best_epoch"] - 1][monitor])


def _train(params: Params, plan: TrialPlan, report: Any) -> Any:
    from doclstm.tasks.train import train_model

    return train_model(
        params.train,
        params.base.seed,
        workspace(params).tokens,
        plan.out_dir,
        plan.tracking,
        initial_encoder(params),
        teacher_transfer(params),
        on_epoch=report,
    )


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 1)
