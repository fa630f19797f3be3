"""Real servers on loopback for tests: `mlflow server` and `prefect server`.

Each runs in its own process group with its state under a test folder, is
awaited on its health endpoint, and is stopped (the whole group) at exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mlflow_server(
    root: Path,
    timeout: float = 120.0,
    store: str | None = None,
    app_name: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """An MLflow server (SQLite backend, proxied local artifacts) on `store`, by default a
    new `root/mlflow.db`, served by the app `app_name` (e.g. doclstm-auth) if given;
    yields its URI."""
    port = free_port()
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", store or f"sqlite:///{root / 'mlflow.db'}"),
        *("--artifacts-destination", str(root / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *(("--app-name", app_name) if app_name else ()),
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(extra_env or {})}
    uri = f"http://127.0.0.1:{port}"
    with _running(command, env, f"{uri}/health", root, timeout):
        yield uri


def prefect_env(
    root: Path, api_url: str | None = None, auth_string: str | None = None
) -> dict[str, str]:
    """Environment for Prefect processes whose home (and SQLite database) is `root`; with
    `auth_string` ("user:password"), clients send it as Prefect's own clients do."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PREFECT_HOME": str(root / "home"),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{root / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    if auth_string is not None:
        env["PREFECT_API_AUTH_STRING"] = auth_string
    return env


@contextmanager
def prefect_server(
    root: Path, timeout: float = 180.0, auth_string: str | None = None, ui: bool = False
) -> Iterator[str]:
    """A Prefect server (SQLite) on loopback, which with `auth_string` ("user:password")
    refuses any API call without it, and with `ui` serves its UI too; yields its API URL."""
    port = free_port()
    prefect = str(Path(sys.executable).parent / "prefect")
    command = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(root)
    if ui:  # the UI's pages call this server's API, not the default port's
        env |= {"PREFECT_UI_ENABLED": "true", "PREFECT_UI_API_URL": api}
    if auth_string is not None:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    with _running(command, env, f"{api}/health", root, timeout):
        yield api


@contextmanager
def _running(
    command: list[str], env: dict[str, str], health_url: str, root: Path, timeout: float
) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {log_path.read_text()}")
            try:
                with urllib.request.urlopen(health_url, timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer from {health_url} in {timeout} s")
            time.sleep(0.3)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
