"""The Prefect flows end to end on a small slice of the real corpus."""

import itertools
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from doclstm.storage.manifest import StageManifest
from doclstm.tasks.table import STAGES, TRAINING_STAGES
from tests.conftest import DOCS_PER_LABEL, TINY

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pipeline_then_score_runs_every_stage_and_reuses_on_rerun(
    prefect_server: None, small_corpus: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        TaskRunFilter,
    )
    from prefect.client.schemas.sorting import ArtifactSort, TaskRunSort

    from doclstm.flows.training import pipeline_then_score

    overrides = [
        f"base.workspace={tmp_path}",
        f"ingest.source={small_corpus}",
        f"score.input={small_corpus}",
        *TINY,
        "train.loader_workers=1",  # worker processes started inside a Prefect task
    ]
    state = pipeline_then_score(str(ROOT / "params.yaml"), overrides, return_state=True)
    assert state.is_completed()
    run = state.result()
    training = run.training
    assert training["ingest"].seen == 5 * DOCS_PER_LABEL
    assert training["register"].version == "1"
    assert (training["gate"].decision, training["gate"].champion) == ("promoted", "1")
    assert run.score.model_version == "1"  # the champion scores
    assert run.score.documents == 5 * DOCS_PER_LABEL and run.score.shards_skipped == 0
    assert pq.read_table(run.score.out_dir).num_rows == 5 * DOCS_PER_LABEL

    # One MLflow run per model: the trainer logged each epoch live into it, and
    # register added the test metrics and the model to that same run.
    from mlflow import MlflowClient

    client = MlflowClient(training["register"].tracking_uri)
    train_summary = StageManifest.load(training["train"].model_dir).summary
    assert training["register"].run_id == train_summary["mlflow_run_id"]
    epochs = client.get_metric_history(training["register"].run_id, "val/macro_f1")
    assert [m.step for m in epochs] == [1, 2]
    assert "test/accuracy" in client.get_run(training["register"].run_id).data.metrics
    trained_run = client.get_run(training["register"].run_id).info
    assert (
        trained_run.run_name
        == f"main-{StageManifest.load(training['train'].model_dir).fingerprint[:6]}"
    )

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(limit=200, sort=TaskRunSort.EXPECTED_START_TIME_DESC)
        names = {t.name.rsplit("-", 1)[0] for t in runs}
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["gate-decision"])),
            flow_run_filter=FlowRunFilter(),  # the sync client sends None for any left out
            task_run_filter=TaskRunFilter(),
            limit=10,
            offset=0,
            sort=ArtifactSort.CREATED_DESC,
        )
    assert {stage.name for stage in STAGES} <= names
    # The run graph draws the stage order: each training stage waited on the one before.
    first_run = {t.name.rsplit("-", 1)[0]: t for t in reversed(runs)}
    order = [stage.name for stage in TRAINING_STAGES]
    for before, after in itertools.pairwise(order):
        waited = {i.id for i in first_run[after].task_inputs.get("wait_for", [])}
        assert waited == {first_run[before].id}, (before, after)
    assert len(artifacts) == 1 and artifacts[0].type == "markdown"
    assert "version 1: promoted" in str(artifacts[0].data)

    second = pipeline_then_score(str(ROOT / "params.yaml"), overrides)
    t = second.training
    assert all(t[stage.name].cached for stage in TRAINING_STAGES if stage.name != "pretrain")
    assert t["register"].version == "1"
    assert (t["gate"].decision, t["gate"].champion) == ("promoted", "1")
    assert second.score.shards_skipped == second.score.shards


@pytest.mark.slow
def test_a_first_model_the_gate_rejects_ends_the_run_with_its_table_not_a_traceback(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    import os
    import shutil
    import subprocess
    import sys

    workspace = tmp_path / "ws"
    shutil.copytree(built_workspace, workspace)  # the stages up to evaluate are reused
    settings = [
        f"base.workspace={workspace}",
        f"ingest.source={small_corpus}",
        f"score.input={small_corpus}",
        *TINY,
        "gate.min_accuracy=0.999",  # no model of 128-token snippets gets there
    ]
    command = [sys.executable, "-m", "doclstm.cli", "run", "--params", str(ROOT / "params.yaml")]
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "COLUMNS": "200"}
    env.pop("PREFECT_API_URL", None)  # a temporary server, as a user's first `doclstm run`
    done = subprocess.run(
        [*command, *(arg for s in settings for arg in ("--set", s))],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert "Traceback" not in out
    assert "doclstm run" in done.stdout and "not scored: nothing to score with" in done.stdout
    assert "error: nothing to score with: the gate did not promote" in done.stdout
