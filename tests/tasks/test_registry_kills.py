"""register and gate SIGKILLed at seeded points (database commits, artifact copies): the
rerun ends with the registry of an uninterrupted run: one version for the model folder,
the same aliases and tags, the champion history, no pending change and no orphan run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from doclstm.registry.model_registry import HISTORY_TAG, PENDING_TAG
from doclstm.tasks.table import run_stage
from tests.conftest import tiny_params
from tests.crash_points import calls_in_a_whole_run, kill_points, run_killed_at

MODEL = "doclstm-bbcnews"
# Every registry and tracking write is a commit of MLflow's SQL store; artifacts are copies.
CRASH_POINTS = "sqlalchemy.orm:Session.commit"
POINTS = {"register": 3, "gate": 3}  # kill points drawn per stage, first and last included
VERSION_TAGS = ("doclstm.fingerprint", "test_accuracy", "pretrained_encoder", "decision")


def _workspace(built: Path, small_corpus: Path, root: Path) -> Path:
    shutil.copytree(built, root)
    params = tiny_params(root, small_corpus).model_dump(mode="json", by_alias=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return root


def _stage(name: str, workspace: Path) -> list[str]:
    return ["stage", name, "--params", str(workspace / "params.yaml")]


def _registry_state(workspace: Path) -> dict[str, Any]:
    """What must match an uninterrupted run (ids and times aside)."""
    client = MlflowClient(f"sqlite:///{workspace / 'data/mlflow/mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    model = client.get_registered_model(MODEL)
    versions = client.search_model_versions(f"name='{MODEL}'")
    return {
        "runs": sorted((r.info.status, r.data.tags.get("doclstm.fingerprint", "")) for r in runs),
        "versions": sorted(
            (v.version, sorted(v.aliases), {k: v.tags.get(k) for k in VERSION_TAGS})
            for v in versions
        ),
        "logged_models": sorted(m.status.name for m in client.search_logged_models(experiments)),
        "history": json.loads(model.tags.get(HISTORY_TAG, "[]")),
        "pending": model.tags.get(PENDING_TAG),
        "gate": json.loads((workspace / "reports/gate.json").read_text())["result"]["decision"],
    }


def _killed(stage: str, workspace: Path, point: int) -> None:
    done = run_killed_at(CRASH_POINTS, point, _stage(stage, workspace), workspace)
    assert done.returncode == -9, done.stdout[-2000:] + done.stderr[-3000:]


def _run(stage: str, workspace: Path, small_corpus: Path) -> None:
    """A whole run, in this process (a fresh MLflow client reads the store as it is)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workspace)
        run_stage(stage, tiny_params(workspace, small_corpus))


@pytest.mark.slow
@pytest.mark.parametrize("killed", ["register", "gate"])
def test_register_or_gate_killed_anywhere_reruns_to_one_consistent_registry(
    built_workspace: Path, small_corpus: Path, tmp_path: Path, killed: str
) -> None:
    clean = _workspace(built_workspace, small_corpus, tmp_path / "clean")
    if killed == "gate":
        _run("register", clean, small_corpus)
    calls = calls_in_a_whole_run(CRASH_POINTS, _stage(killed, clean), clean, tmp_path / "n")
    if killed == "register":
        _run("gate", clean, small_corpus)
    expected = _registry_state(clean)
    assert expected["history"] == ["1"] and expected["gate"] == "promoted"

    points = kill_points(calls, how_many=POINTS[killed], seed=26)
    print(f"{killed}: {calls} calls; killed at {points}")
    for point in points:
        workspace = _workspace(built_workspace, small_corpus, tmp_path / f"at-{point}")
        if killed == "gate":
            _run("register", workspace, small_corpus)
        _killed(killed, workspace, point)
        _run(killed, workspace, small_corpus)  # the rerun after the crash
        if killed == "register":
            _run("gate", workspace, small_corpus)
        assert _registry_state(workspace) == expected, f"{killed} killed at call {point}"
