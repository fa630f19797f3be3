"""The study's MLflow run: the search's settings, each trial a nested run under it, the
best val so far by trial, and at the end the optimisation history, the importance of
each setting and the trials' table as artifacts.

A trial's run is the train stage's own (per-epoch curves and settings, fit_stage logs
them) created with the study run as its parent (`mlflow.parentRunId`: MLflow's UI nests
it) and the trial's key; `record_trial` names it and adds its state and val metric.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doclstm.config.params import Params
from doclstm.config.tracking import TrackingTarget, flatten, log_params
from doclstm.training.stage_run import PARENT_TAG, experiment_id
from doclstm.tuning.trial import TrialOutcome

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

STUDY_TAG = "doclstm.tune_study"  # the study's run, found again when a search resumes
TRIAL_TAG = "doclstm.tune_trial"  # a trial's run: <study>/<trial key>
# MLflow's statuses for a trial's end: a pruned trial was stopped on purpose.
RUN_STATUS = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}


@dataclass(frozen=True)
class StudyRun:
    client: MlflowClient
    target: TrackingTarget
    run_id: str
    study: str

    @classmethod
    def open(cls, target: TrackingTarget, study: str, params: Params) -> StudyRun:
        """The study's run, reopened on resume, else started with the search's settings."""
        from mlflow import MlflowClient

        client = MlflowClient(target.uri)
        exp = experiment_id(client, target)
        found = client.search_runs([exp], filter_string=f"tags.`{STUDY_TAG}` = '{study}'")
        if found:
            run_id = found[0].info.run_id
            client.update_run(run_id, status="RUNNING")
        else:
            tags = {STUDY_TAG: study}
            run_id = client.create_run(exp, tags=tags, run_name=f"tune-{study}").info.run_id
            tune = params.tune.model_dump(mode="json", exclude={"space", "output"})
            space = params.tune.space.items()
            logged = {
                **flatten({"tune": tune}),
                "tune.space": {
                    k: v.model_dump(mode="json", exclude_defaults=True) for k, v in space
                },
                "train.monitor": params.train.monitor,
            }
            log_params(client, run_id, logged)
        return cls(client, target, run_id, study)

    def trial_target(self, key: str) -> TrackingTarget:
        """Where a trial's training logs: a run nested under this one."""
        tags = ((PARENT_TAG, self.run_id), (TRIAL_TAG, f"{self.study}/{key}"))
        return TrackingTarget(self.target.uri, self.target.experiment, None, tags)

    def record_trial(self, key: str, outcome: TrialOutcome, settings: dict[str, Any]) -> None:
        """Name the trial's run, tag its state and reason, log its val metric and mark
        its end; a trial that failed before training gets a run of its own here."""
        exp = experiment_id(self.client, self.target)
        found = self.client.search_runs(
            [exp],
            filter_string=f"tags.`{TRIAL_TAG}` = '{self.study}/{key}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if found:
            run_id = found[0].info.run_id
        else:
            tags = dict(self.trial_target(key).run_tags)
            run_id = self.client.create_run(exp, tags=tags).info.run_id
            log_params(self.client, run_id, settings)
        self.client.set_tag(run_id, "mlflow.runName", f"trial-{outcome.number}")
        self.client.set_tag(run_id, "doclstm.tune_trial_number", str(outcome.number))
        self.client.set_tag(run_id, "doclstm.tune_state", outcome.state)
        if outcome.reason:
            self.client.set_tag(run_id, "doclstm.tune_reason", outcome.reason)
        if outcome.value is not None:
            self.client.log_metric(run_id, "tune/value", outcome.value)
        self.client.set_terminated(run_id, RUN_STATUS[outcome.state])

    def record_best(self, number: int, value: float) -> None:
        self.client.log_metric(self.run_id, "tune/best_value", value, step=number)

    def close(self, study: optuna.Study, status: str) -> None:
        """The plots and the trials' table as artifacts, then the run's end."""
        from optuna.trial import TrialState

        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _trials_table(study, folder / "trials.json")
            if complete:
                _plots(study, folder)
            for path in sorted(folder.iterdir()):
                self.client.log_artifact(self.run_id, str(path))
        if complete:
            best = study.best_trial
            self.client.set_tag(self.run_id, "doclstm.tune_best_trial", str(best.number))
            for name, value in best.params.items():
                self.client.set_tag(self.run_id, f"best.{name}", str(value))
        self.client.set_terminated(self.run_id, status)


def _trials_table(study: optuna.Study, path: Path) -> None:
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": t.params,
            "epochs": len(t.intermediate_values),
            "reason": t.user_attrs.get("fail_reason", ""),
        }
        for t in study.trials
    ]
    path.write_text(json.dumps(rows, indent=1))


def _plots(study: optuna.Study, folder: Path) -> None:
    """The optimisation history and, with two complete trials that differ, the importance
    of each setting (fANOVA), as PNGs (matplotlib, no display)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as plots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        figures = {
            "optimization_history.png": plots.plot_optimization_history,
            "intermediate_values.png": plots.plot_intermediate_values,
        }
        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        if len({json.dumps(t.params, sort_keys=True) for t in complete}) >= 2:
            figures["param_importances.png"] = plots.plot_param_importances
        for name, plot in figures.items():
            figure = plot(study).get_figure(root=True)
            assert figure is not None  # optuna draws on a figure of its own
            figure.tight_layout()
            figure.savefig(folder / name, dpi=110)
            plt.close(figure)
