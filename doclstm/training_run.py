"""The MLflow run of one training (or pretraining): per-epoch metrics, reopened on resume.

The run is tagged with the training fingerprint; a resumed training finds
its unfinished run by that tag and goes on logging into it, so one model
has one run whatever happened on the way. `register` later adds the test
metrics and the model to the same run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from doclstm.tracking import TrackingTarget, flatten

if TYPE_CHECKING:  # MLflow is imported only when a run is tracked: it takes seconds, and a
    # training without a tracking target (benchmarks, a bare GPU machine) needs none of it.
    from mlflow import MlflowClient

FINGERPRINT_TAG = "doclstm.train_fingerprint"


def experiment_id(client: MlflowClient, target: TrackingTarget) -> str:
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(target.experiment, target.artifact_location))


@dataclass(frozen=True)
class TrainingRun:
    client: MlflowClient
    uri: str
    run_id: str

    @classmethod
    def open(
        cls, target: TrackingTarget, fingerprint: str, settings: dict[str, Any]
    ) -> TrainingRun:
        """Reopen the unfinished run of `fingerprint`, or start one logging `settings`."""
        from mlflow import MlflowClient
        from mlflow.entities import RunStatus

        client = MlflowClient(target.uri)
        exp = experiment_id(client, target)
        unfinished = [
            run
            for run in client.search_runs(
                [exp],
                filter_string=f"tags.`{FINGERPRINT_TAG}` = '{fingerprint}'",
                order_by=["attributes.start_time DESC"],
            )
            if run.info.status != RunStatus.to_string(RunStatus.FINISHED)
        ]
        if unfinished:
            run_id = unfinished[0].info.run_id
            client.update_run(run_id, status="RUNNING")
        else:
            run_id = client.create_run(exp, tags={FINGERPRINT_TAG: fingerprint}).info.run_id
            for key, value in flatten(settings).items():
                client.log_param(run_id, key, str(value)[:500])
        return cls(client, target.uri, run_id)

    def log_epoch(self, record: dict[str, Any]) -> None:
        step = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch":
                self.client.log_metric(self.run_id, key, float(value), step=step)

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


@contextmanager
def tracked(
    target: TrackingTarget | None, fingerprint: str, settings: dict[str, Any], is_main: bool
) -> Iterator[TrainingRun | None]:
    """The run of a training on rank 0 (None elsewhere, or without a target): FINISHED when
    the block ends, KILLED or FAILED when it raises (the next attempt reopens it)."""
    run = TrainingRun.open(target, fingerprint, settings) if target and is_main else None
    try:
        yield run
    except BaseException as exc:
        if run:
            run.close("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    if run:
        run.close("FINISHED")


def run_summary(run: TrainingRun | None) -> dict[str, str]:
    """What a stage manifest records of its MLflow run."""
    return {"mlflow_run_id": run.run_id, "mlflow_tracking_uri": run.uri} if run else {}
