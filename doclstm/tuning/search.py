"""The search: `tune_settings(params, base_file)`, what `doclstm tune`, the `tune` Prefect
flow and tuning/dvc.yaml run.

With the workspace locked: the stages before train (cached when their outputs are
current), the study opened (a kill's leftovers queued again), the base settings queued
as the first trial of a new study (so the study measures what it improves on), then
trials until `tune.trials` are counted or `tune.timeout` passes; Ctrl-C stops it with
the finished trials kept. The best trial's settings are written to `tune.output`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from doclstm.config.params import Params
from doclstm.config.workspace_lock import workspace_lock
from doclstm.console.progress import TrialProgress
from doclstm.errors import DoclstmError
from doclstm.tasks.table import TRAINING_STAGES, training_target
from doclstm.tuning.space import SearchSpace, with_settings
from doclstm.tuning.study import (
    REASON,
    StudyPlace,
    counted,
    open_study,
    requeue_interrupted,
    study_place,
)
from doclstm.tuning.study_run import StudyRun
from doclstm.tuning.trial import TrialOutcome, TrialPlan, run_trial, trial_key
from doclstm.tuning.tuned_file import Best, write_tuned

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
BASE_SETTINGS = "base_settings"  # the user attr of the trial of the base file's values
LOST = "its worker process died (killed by the system: out of memory?)"


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # Optuna's: complete, pruned, fail (waiting: queued to run again)
    value: float | None
    seconds: float | None
    settings: dict[str, Any]
    reason: str = ""


@dataclass(frozen=True)
class TuneResult:
    study: str
    folder: Path
    monitor: str
    trials: list[TrialRow]  # every trial of the study, in order
    best: Best | None  # None when no trial completed
    output: Path | None  # the tuned params file, when there is a best
    changed: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False  # Ctrl-C: the finished trials are kept
    mlflow_run_id: str = ""

    def markdown(self, shown: int = 5) -> str:
        """The study in a few lines: the counts, the best `shown` trials, the output."""
        states = [r.state for r in self.trials]
        counts = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
        lines = [f"**Study** `{self.study}`: {len(self.trials)} trials ({counts})."]
        if self.interrupted:
            lines.append("Interrupted: the finished trials are kept; run it again to go on.")
        done = [r for r in self.trials if r.state == "complete"]
        done.sort(key=lambda r: r.value or 0.0, reverse=self.monitor != "val_log_loss")
        if done:
            lines += ["", f"| trial | {self.monitor} | seconds | settings |", "|---|---|---|---|"]
            for row in done[:shown]:
                seconds = f"{row.seconds:.0f}" if row.seconds is not None else ""
                lines.append(
                    f"| {row.number} | {row.value:.4f} | {seconds} | {_shown(row.settings)} |"
                )
        failed = [r for r in self.trials if r.state == "fail" and r.reason]
        if failed:
            lines += ["", f"Failed: trial {failed[-1].number}: {failed[-1].reason}"]
        if self.best is not None and self.output is not None:
            base = self.best.base_value
            versus = f" against {base:.4f} for the base settings" if base is not None else ""
            lines += [
                "",
                f"Best: trial {self.best.number}, {self.monitor} {self.best.value:.4f}{versus}.",
                f"Written: `{self.output}` ({len(self.changed)} settings changed); train with "
                f"`doclstm run --params {self.output}`.",
            ]
        return "\n".join(lines)


def tune_settings(params: Params, base_file: Path | None = None) -> TuneResult:
    """Search `params.tune.space` on val; `base_file` is the params file `params` came
    from, which the tuned file extends (None: the shipped defaults)."""
    started = time.monotonic()  # tune.timeout counts from here, the stages before included
    space = SearchSpace.of(params)  # a bad space is refused before anything runs
    with workspace_lock(params.base.workspace, params.base.lock_wait_seconds):
        for stage in TRAINING_STAGES[: [s.name for s in TRAINING_STAGES].index("train")]:
            stage.load()(**stage.arguments(params).as_kwargs())
        place = study_place(params, space)
        study = open_study(place, params)
        requeue_interrupted(study)
        if not study.trials:  # a new study measures the base settings first, when it can
            defaults = space.defaults(params)
            if defaults is not None:
                study.enqueue_trial(defaults, user_attrs={BASE_SETTINGS: True})
            else:
                log.info("tune: the base settings are outside tune.space: no trial of them")
        run = StudyRun.open(training_target(params), place.name, params)
        log.info("tune: study %s in %s", place.name, place.folder)
        interrupted = False
        try:
            _Search(params, space, place, study, run, started).run()
        except KeyboardInterrupt:
            interrupted = True
            log.warning("tune: interrupted; the finished trials are kept")
        finally:
            requeue_interrupted(study)  # what Ctrl-C cut off runs again on resume
            run.close(study, "KILLED" if interrupted else "FINISHED")
        return _result(params, base_file, place, study, run.run_id, interrupted)


class _Search:
    """The trial loop: ask, train (here or in a worker process), tell, record."""

    def __init__(
        self,
        params: Params,
        space: SearchSpace,
        place: StudyPlace,
        study: optuna.Study,
        run: StudyRun,
        started: float,  # a time.monotonic() reading: when the command started
    ) -> None:
        self.params, self.space, self.place = params, space, place
        self.study, self.run_ = study, run
        self.done = sum(counted(t) for t in study.trials)
        timeout = params.tune.timeout
        self.deadline = started + timeout if timeout else None
        self.workers = params.tune.workers
        self.running: dict[Future[TrialOutcome], tuple[Any, str, dict[str, Any]]] = {}

    def run(self) -> None:
        budget = self.params.tune.trials
        pool = self._pool()
        try:
            with TrialProgress(budget, self.done, self.deadline) as self.bar:
                while True:
                    while len(self.running) < self.workers and self._may_start(budget):
                        self._start(pool)
                    if not self.running:
                        return
                    finished, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
                    broken = False
                    for future in finished:
                        trial, key, settings = self.running.pop(future)
                        try:
                            outcome = future.result()
                        except BrokenProcessPool:  # the system killed a worker (memory?)
                            broken = True
                            outcome = TrialOutcome(trial.number, "failed", None, None, 0, 0.0, LOST)
                        self._record(trial, key, settings, outcome)
                    if broken and pool is not None:  # the pool is unusable: a fresh one
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = self._pool()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _may_start(self, budget: int) -> bool:
        if self.done + len(self.running) >= budget:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            log.info("tune: tune.timeout reached; no more trials start")
            return False
        return True

    def _pool(self) -> ProcessPoolExecutor | None:
        if self.workers == 1:
            return None
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def _start(self, pool: ProcessPoolExecutor | None) -> None:
        trial = self.study.ask()
        settings = self.space.suggest(trial)
        key = trial_key(settings)
        if key in {running_key for _, running_key, _ in self.running.values()}:
            key = f"{key}-{trial.number}"  # the same settings at once: a folder each
        try:
            trial_params = with_settings(self.params, settings)
        except ValidationError as exc:  # a combination the schema refuses: failed, go on
            reason = "; ".join(e["msg"] for e in exc.errors())
            self._record(
                trial,
                key,
                settings,
                TrialOutcome(trial.number, "failed", None, None, 0, 0.0, reason),
            )
            return
        threads = max(1, (os.cpu_count() or 1) // self.workers) if pool is not None else 0
        plan = TrialPlan(
            trial.number,
            trial._trial_id,
            settings,
            trial_params.model_dump(mode="json", by_alias=True),
            self.place.storage_url,
            self.place.name,
            self.place.trial_dir(key),
            self.run_.trial_target(key),
            threads,
        )
        log.info("tune: trial %d: %s", trial.number, _shown(settings))
        if pool is not None:
            self.running[pool.submit(run_trial, plan)] = (trial, key, settings)
            return
        future: Future[TrialOutcome] = Future()
        self.running[future] = (trial, key, settings)
        future.set_result(run_trial(plan))

    def _record(
        self, trial: Any, key: str, settings: dict[str, Any], outcome: TrialOutcome
    ) -> None:
        from optuna.trial import TrialState

        trial.set_user_attr("seconds", outcome.seconds)
        if outcome.state == "complete":
            self.study.tell(trial, outcome.value)
        else:
            if outcome.reason:
                trial.set_user_attr(REASON, outcome.reason)
            state = TrialState.PRUNED if outcome.state == "pruned" else TrialState.FAIL
            self.study.tell(trial, state=state)
        self.run_.record_trial(key, outcome, settings)
        self.done += 1
        best = _best(self.study)
        if best is not None and best.number == outcome.number:
            self.run_.record_best(best.number, best.value)
        shown = f"{outcome.value:.4f}" if outcome.value is not None else outcome.reason
        of = f"{self.done}/{self.params.tune.trials}"
        log.info("tune: trial %d %s: %s in %.0f s (%s)", outcome.number, outcome.state, shown,
                 outcome.seconds, of)  # fmt: skip
        monitor = self.params.train.monitor
        self.bar.update(self.done, f"best {monitor} {best.value:.4f}" if best else "")


def _best(study: optuna.Study) -> Any:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def _shown(settings: dict[str, Any]) -> str:
    return ", ".join(
        f"{k.removeprefix('train.')}={v:.4g}"
        if isinstance(v, float)
        else f"{k.removeprefix('train.')}={v}"
        for k, v in settings.items()
    )


def _result(
    params: Params,
    base_file: Path | None,
    place: StudyPlace,
    study: optuna.Study,
    run_id: str,
    interrupted: bool,
) -> TuneResult:
    rows = [
        TrialRow(
            t.number,
            t.state.name.lower(),
            t.value,
            t.user_attrs.get("seconds"),
            t.params,
            t.user_attrs.get(REASON, ""),
        )
        for t in study.trials
    ]
    monitor = params.train.monitor
    best_trial = _best(study)
    if best_trial is None:
        if interrupted:
            return TuneResult(place.name, place.folder, monitor, rows, None, None, {}, True, run_id)
        reasons = [r.reason for r in rows if r.reason]
        first = f": {reasons[0]}" if reasons else ""
        raise DoclstmError(f"tune: no trial of study {place.name} completed{first}")
    base_values = [
        t.value for t in study.trials if t.user_attrs.get(BASE_SETTINGS) and t.value is not None
    ]
    best = Best(
        place.name,
        sum(counted(t) for t in study.trials),
        best_trial.number,
        float(best_trial.value),
        monitor,
        best_trial.params,
        base_values[0] if base_values else None,
    )
    output = params.tune.output
    changed = write_tuned(output, base_file, params, best)
    return TuneResult(
        place.name, place.folder, monitor, rows, best, output, changed, interrupted, run_id
    )
