"""`doclstm ui`: each UI opens on this workspace, at the page the last run made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.local_servers import free_port

CLI = [sys.executable, "-m", "doclstm.cli", "ui"]
RUN = {"experiment_id": "3", "run_id": "0123abcd"}


def _workspace(tmp_path: Path) -> list[str]:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "registration.json").write_text(json.dumps(RUN))
    return ["--set", f"base.workspace={tmp_path}"]


def _ui(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow  # a real MLflow server starts
def test_mlflow_opens_on_the_workspace_store_at_the_last_registered_run(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "mlflow", "--port", str(port), *_workspace(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        command, where = server.stdout.readline(), server.stdout.readline()
        store = f"sqlite:///{(tmp_path / 'data/mlflow/mlflow.db').resolve()}"
        assert f"ui --backend-store-uri {store} --default-artifact-root " in command
        page = (
            f"http://127.0.0.1:{port}/#/experiments/3/runs/0123abcd?workflowType=machine_learning"
        )
        assert where.strip() == f"then open {page}"
        deadline = time.monotonic() + 90
        while True:  # the command became MLflow's server, on that store
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(1)
        assert (tmp_path / "data/mlflow/mlflow.db").is_file()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_tracking_server_is_only_linked(tmp_path: Path) -> None:
    out = _ui("mlflow", *_workspace(tmp_path), "--set", "register.tracking_uri=http://mlflow:5000")
    assert out.strip() == (
        "MLflow runs on a server: open "
        "http://mlflow:5000/#/experiments/3/runs/0123abcd?workflowType=machine_learning"
    )
    bare = _ui("mlflow", "--print", "--set", f"base.workspace={tmp_path / 'new'}")
    assert bare.splitlines()[1] == (
        "then open http://127.0.0.1:5000/#/experiments?workflowType=machine_learning"
    )


def test_prefect_starts_on_the_database_the_flows_wrote_to(tmp_path: Path) -> None:
    out = _ui("prefect", "--print", "--port", "4300", env={"PREFECT_HOME": str(tmp_path)})
    command, where = out.splitlines()
    assert command.startswith(f"PREFECT_HOME={tmp_path} ")
    assert command.endswith("prefect server start --host 127.0.0.1 --port 4300")
    assert where == f"then open http://127.0.0.1:4300/runs (flow runs of PREFECT_HOME={tmp_path})"


def test_docs_lists_the_pages_that_open_from_disk(tmp_path: Path) -> None:
    settings = _workspace(tmp_path)
    (tmp_path / "reports" / "evaluation.html").write_text("<html></html>")
    lines = _ui("docs", *settings).splitlines()
    assert lines == [
        f"evaluation report  {(tmp_path / 'reports/evaluation.html').resolve().as_uri()}",
        "Data Docs          not written yet: `doclstm run`",
    ]
