"""End to end on real servers: infra/deploy.sh deploys infra/prefect.yaml to a `prefect
server` that refuses any API call without its auth string, a run of the nightly
deployment is triggered through the API and executed by a process worker (both given
the auth string in PREFECT_API_AUTH_STRING, as infra/docker-compose.yml gives it),
logging to a real `mlflow server`; a second run is a no-op in seconds. The auth string
never shows in what the commands print or log."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import TINY
from tests.local_servers import prefect_env, prefect_server

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
POOL = "e2e"
MODEL = "nightly-e2e"
PASSWORD = secrets.token_urlsafe(24)
AUTH = ("doclstm", PASSWORD)  # the auth string is "doclstm:<password>", sent as Basic auth


def _params_file(tmp_path: Path, corpus: Path) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    settings = [
        f"ingest.source={corpus}",
        f"score.input={corpus}",
        f"register.model_name={MODEL}",
        *TINY,
        "train.loader_workers=1",
    ]
    for item in settings:
        key, value = item.split("=", 1)
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = yaml.safe_load(value)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _run(command: list[str], env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def _trigger_and_work(env: dict[str, str], api: str, printed: list[str]) -> dict[str, Any]:
    """Run the nightly deployment once through the API and a worker; the finished run
    (what the commands printed goes to `printed`)."""
    out = _run([PREFECT, "deployment", "run", "nightly_retrain/nightly"], env)
    printed.append(out)
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
    assert match, out
    run_id = match.group(1)
    worker = [PREFECT, "worker", "start", "--pool", POOL, "--type", "process", "--run-once"]
    printed.append(_run(worker, env))
    run = httpx.get(f"{api}/flow_runs/{run_id}", auth=AUTH).json()
    assert run["state_type"] == "COMPLETED", run["state"]
    return dict(run)


def _artifacts(api: str, flow_run_ids: list[str]) -> list[dict[str, Any]]:
    body = {"artifacts": {"flow_run_id": {"any_": flow_run_ids}}}
    return list(httpx.post(f"{api}/artifacts/filter", json=body, auth=AUTH).json())


def _subflow_ids(api: str, parent: dict[str, Any]) -> list[str]:
    """Flow runs started inside `parent` (train_pipeline, score_archive)."""
    tasks = httpx.post(
        f"{api}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [parent["id"]]}}},
        auth=AUTH,
    ).json()
    task_ids = [t["id"] for t in tasks]
    body = {"flow_runs": {"parent_task_run_id": {"any_": task_ids}}}
    return [r["id"] for r in httpx.post(f"{api}/flow_runs/filter", json=body, auth=AUTH).json()]


def _seconds(run: dict[str, Any]) -> float:
    start, end = (datetime.fromisoformat(run[k]) for k in ("start_time", "end_time"))
    return (end - start).total_seconds()


@pytest.mark.slow
def test_nightly_deployment_trains_then_skips_on_real_servers(
    small_corpus: Path, mlflow_server_uri: str, tmp_path: Path
) -> None:
    auth_string = ":".join(AUTH)
    with prefect_server(tmp_path / "prefect", auth_string=auth_string) as api:
        # Without the auth string the API refuses: nobody else triggers or edits deployments.
        refused = httpx.post(f"{api}/deployments/filter", json={})
        assert refused.status_code == 401, refused.text
        wrong = httpx.post(f"{api}/deployments/filter", json={}, auth=("doclstm", "guess"))
        assert wrong.status_code == 401
        env = prefect_env(tmp_path / "prefect", api, auth_string) | {
            "DOCLSTM_HOME": str(ROOT),
            "DOCLSTM_PARAMS_FILE": str(_params_file(tmp_path, small_corpus)),
            "DOCLSTM_WORKSPACE": str(tmp_path / "workspace"),
            "DOCLSTM_POOL": POOL,
            "MLFLOW_TRACKING_URI": mlflow_server_uri,
        }
        printed = [_run(["sh", "infra/deploy.sh"], env)]
        printed.append(_run(["sh", "infra/deploy.sh"], env))  # again: safe to rerun

        # The deployments as prefect.yaml defines them, with the nightly cron.
        deployments = httpx.post(f"{api}/deployments/filter", json={}, auth=AUTH).json()
        by_name = {d["name"]: d for d in deployments}
        assert set(by_name) == {"nightly", "train", "score-archive", "tune"}
        (schedule,) = by_name["nightly"]["schedules"]
        assert schedule["schedule"]["cron"] == "0 2 * * *"
        assert schedule["schedule"]["timezone"] == "UTC"
        limits = httpx.post(f"{api}/concurrency_limits/filter", json={}, auth=AUTH).json()
        assert {(c["tag"], c["concurrency_limit"]) for c in limits} >= {("gpu", 1)}

        first = _trigger_and_work(env, api, printed)
        children = _subflow_ids(api, first)
        artifacts = _artifacts(api, [first["id"], *children])
        keys = {a["key"] for a in artifacts}
        expected = {"nightly-summary", "training-summary", "gate-decision", "training-mlflow"}
        assert expected <= keys, keys
        nightly_md = next(
            a["data"]
            for a in artifacts
            if a["flow_run_id"] == first["id"] and a["type"] == "markdown"
        )
        assert "trained, promoted" in nightly_md
        # A link artifact is stored as a markdown link: [MLflow](<url>).
        links = [a["data"] for a in artifacts if a["key"].endswith("-mlflow")]
        assert links and all(f"]({mlflow_server_uri}/#/" in link for link in links), links
        run_link = next(link for link in links if "/runs/" in link)
        assert httpx.get(run_link.split("](", 1)[1].rstrip(")")).status_code == 200
        train_task = httpx.post(
            f"{api}/task_runs/filter",
            json={"task_runs": {"name": {"like_": "train-"}}},
            auth=AUTH,
        ).json()
        assert train_task and all("gpu" in t["tags"] for t in train_task)

        from mlflow import MlflowClient

        client = MlflowClient(mlflow_server_uri)
        version = client.get_model_version_by_alias(MODEL, "champion")
        assert "doclstm.data.dvc_md5" in client.get_run(version.run_id).data.tags
        assert (tmp_path / "workspace" / "predictions" / MODEL / version.version).is_dir()

        second = _trigger_and_work(env, api, printed)
        assert _seconds(second) < 30, _seconds(second)
        skipped_md = next(
            a["data"] for a in _artifacts(api, [second["id"]]) if a["type"] == "markdown"
        )
        assert "skipped" in skipped_md
        assert f"unchanged since champion version {version.version}" in skipped_md
        assert _subflow_ids(api, second) == []
        # The auth string is in no output and no log: the commands' own, the flow runs'
        # logs on the server, the server's log.
        logs = httpx.post(f"{api}/logs/filter", json={"limit": 200, "offset": 0}, auth=AUTH).json()
        assert logs and all(PASSWORD not in entry["message"] for entry in logs)
        assert printed and all(PASSWORD not in output for output in printed)
        assert PASSWORD not in (tmp_path / "prefect" / "server.log").read_text()
