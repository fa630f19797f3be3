"""One training stage's run: `fit` inside its MLflow run, then the output folder, whole.

`fit_stage` is what `train` and `pretrain` share: the MLflow run (tagged
with the training fingerprint, so a resumed training finds its unfinished
run by that tag and goes on logging into it: one model, one run, whatever
happened on the way; `register` later adds the test metrics and the model to
it), resuming from `<out_dir>.resume`, and on rank 0 the output folder
written atomically with its manifest, after which the resume checkpoint goes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doclstm.config.tracking import (
    TRAIN_FINGERPRINT_TAG,
    TrackingTarget,
    flatten,
    log_metrics,
    log_params,
    metric_name,
)
from doclstm.storage.atomic import atomic_dir
from doclstm.storage.manifest import FileEntry, StageManifest
from doclstm.training.checkpoint import resume_dir
from doclstm.training.distributed import Distributed
from doclstm.training.trainer import EpochCallback, FitResult

if TYPE_CHECKING:  # MLflow is imported only when a run is tracked: it takes seconds, and a
    # training without a tracking target (benchmarks, a bare GPU machine) needs none of it.
    from mlflow import MlflowClient


# MLflow 3's UI opens an experiment by its kind; without the tag it shows the GenAI
# "Overview/Traces" page, not the training runs.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
PARENT_TAG = "mlflow.parentRunId"  # MLflow's UI nests a run under the run it names


def experiment_id(client: MlflowClient, target: TrackingTarget) -> str:
    """The experiment's id, created (tagged as model development) when it is new; an
    existing one without a kind gets the tag, one a person gave another kind keeps it."""
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is None:
        return str(
            client.create_experiment(
                target.experiment, target.artifact_location, tags=EXPERIMENT_KIND
            )
        )
    for key, value in EXPERIMENT_KIND.items():
        if key not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return str(experiment.experiment_id)


@dataclass(frozen=True)
class TrackedRun:
    client: MlflowClient
    uri: str
    run_id: str

    @classmethod
    def open(
        cls, target: TrackingTarget, fingerprint: str, settings: dict[str, Any], name: str
    ) -> TrackedRun:
        """Reopen the unfinished run of `fingerprint`, or start one logging `settings`,
        named `<name>-<6 characters of the fingerprint>`."""
        from mlflow import MlflowClient
        from mlflow.entities import RunStatus

        client = MlflowClient(target.uri)
        exp = experiment_id(client, target)
        tags = {TRAIN_FINGERPRINT_TAG: fingerprint, **dict(target.run_tags)}
        unfinished = [
            run
            for run in client.search_runs(
                [exp],
                filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items()),
                order_by=["attributes.start_time DESC"],
            )
            if run.info.status != RunStatus.to_string(RunStatus.FINISHED)
            # a pipeline's training never reopens a run nested under another (a tune
            # trial of the same settings), nor a trial one of the pipeline's
            and run.data.tags.get(PARENT_TAG) == tags.get(PARENT_TAG)
        ]
        if unfinished:
            run_id = unfinished[0].info.run_id
            client.update_run(run_id, status="RUNNING")
        else:
            run_id = client.create_run(
                exp, tags=tags, run_name=f"{name}-{fingerprint[:6]}"
            ).info.run_id
            log_params(client, run_id, flatten(settings))
        return cls(client, target.uri, run_id)

    def log_epoch(self, record: dict[str, Any]) -> None:
        values = {metric_name(k): float(v) for k, v in record.items() if k != "epoch"}
        log_metrics(self.client, self.run_id, values, step=int(record["epoch"]))

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


@contextmanager
def tracked(
    target: TrackingTarget | None,
    fingerprint: str,
    settings: dict[str, Any],
    is_main: bool,
    name: str,
) -> Iterator[TrackedRun | None]:
    """The run of a training on rank 0 (None elsewhere, or without a target): FINISHED when
    the block ends, KILLED or FAILED when it raises (the next attempt reopens it)."""
    run = TrackedRun.open(target, fingerprint, settings, name) if target and is_main else None
    try:
        yield run
    except BaseException as exc:
        if run:
            run.close("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    if run:
        run.close("FINISHED")


def _run_summary(run: TrackedRun | None) -> dict[str, str]:
    """What a stage manifest records of its MLflow run."""
    return {"mlflow_run_id": run.run_id, "mlflow_tracking_uri": run.uri} if run else {}


# fit(checkpoint_dir, on_epoch): the stage's own call of doclstm.training.trainer.fit.
Fit = Callable[[Path, EpochCallback | None], FitResult]
# write(folder, result) -> (files, summary): the stage's outputs, written into `folder`.
Write = Callable[[Path, FitResult], tuple[dict[str, FileEntry], dict[str, Any]]]


def fit_stage(
    stage: str,
    out_dir: Path,
    fingerprint: str,
    settings: dict[str, Any],
    tracking: TrackingTarget | None,
    rank: Distributed,
    fit: Fit,
    write: Write,
    on_epoch: EpochCallback | None = None,
) -> StageManifest:
    """Run `fit` (resuming from `resume_dir(out_dir)`, logging each epoch to the run, then
    passing it to `on_epoch`, which may stop the training by raising) and,
    on rank 0, `write` its outputs into `out_dir`, which appears whole with its manifest
    or not at all; then the resume checkpoint is removed. Other ranks wait for rank 0 and
    return the manifest it wrote."""
    # The run is named after the output folder: `train.run_name` (`<run_name>.encoder`).
    with tracked(tracking, fingerprint, settings, rank.is_main, out_dir.name) as run:
        callbacks = [c for c in (run.log_epoch if run else None, on_epoch) if c is not None]

        def each_epoch(record: dict[str, Any]) -> None:
            for callback in callbacks:
                callback(record)

        result = fit(resume_dir(out_dir), each_epoch if callbacks else None)
        if not rank.is_main:
            rank.barrier()
            return StageManifest.load(out_dir)
        with atomic_dir(out_dir) as tmp:
            files, summary = write(tmp, result)
            manifest = StageManifest(stage, fingerprint, files, summary | _run_summary(run))
            manifest.write(tmp)
        shutil.rmtree(resume_dir(out_dir), ignore_errors=True)
    rank.barrier()
    return manifest
