"""A Ray head with token authentication on (RAY_AUTH_MODE=token, as infra/ray/cluster.yaml
starts it): a client without the token, or with another, is refused; `doclstm score`
given the token scores an archive on it through Prefect's Ray task runner."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import TINY
from tests.local_servers import free_port

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
CONNECT = """
import sys
import ray
try:
    ray.init(sys.argv[1])
    print("answered", ray.get(ray.remote(lambda: 41 + 1).remote()))
except ConnectionError as exc:
    print("refused", exc)
"""


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A Ray head on loopback with token authentication; its client address, the
    environment a client with the token has, and its temp folder (its logs)."""
    token = secrets.token_hex(16)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    port, client_port = free_port(), free_port()
    # Ray's socket paths must stay under 108 bytes: a short folder of its own.
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    log = (tmp_path / "ray-head.log").open("wb")
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
         f"--ray-client-server-port={client_port}", "--include-dashboard=false",
         "--num-cpus=2", "--disable-usage-stats", f"--temp-dir={temp_dir}"],
        env=env, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        address = f"ray://127.0.0.1:{client_port}"
        deadline = time.monotonic() + 120
        while _connect(address, env) != "answered 42":
            assert head.poll() is None, (tmp_path / "ray-head.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Ray head did not answer in 120 s"
            time.sleep(2)
        yield address, env, temp_dir
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(timeout=5)
            except subprocess.TimeoutExpired:  # Ray's graceful stop takes half a minute
                os.killpg(head.pid, signal.SIGKILL)
                head.wait(timeout=30)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _client_server_logs(temp_dir: Path) -> str:
    """The end of each log of the head's per-client servers (`ray_client_server_<port>`),
    which is where a client's "Starting Ray client server failed" has its reason."""
    logs = sorted(temp_dir.glob("session_latest/logs/ray_client_server*.err"))
    return "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)


def _connect(address: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CONNECT, address],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else done.stderr[-500:]


@pytest.mark.slow
def test_a_token_protected_head_refuses_strangers_and_scores_for_its_clients(
    ray_head: tuple[str, dict[str, str], Path],
    built_workspace: Path,
    small_corpus: Path,
    tmp_path: Path,
) -> None:
    address, with_token, temp_dir = ray_head
    # The head answers a client with the token (the fixture waited for that); a refused
    # handshake shows as a connection that never opens, so the client gives up sooner.
    quick = {**with_token, "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "2"}
    without = {k: v for k, v in quick.items() if not k.startswith("RAY_AUTH")}
    assert _connect(address, without).startswith("refused")
    assert _connect(address, {**quick, "RAY_AUTH_TOKEN": "0" * 32}).startswith("refused")

    out = tmp_path / "scored"
    sets = [
        f"base.workspace={tmp_path / 'workspace'}",
        f"score.ray_address={address}",
        "score.workers=2",
        "score.docs_per_shard=100",
        *TINY,
    ]
    command = [
        sys.executable, "-m", "doclstm.cli", "score", "--runner", "ray",
        "--model", str(built_workspace / "models/main"), "--input", str(small_corpus),
        "--output", str(out), *(arg for item in sets for arg in ("--set", item)),
    ]  # fmt: skip
    env = {**with_token, "PREFECT_HOME": str(tmp_path / "prefect")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        done.stdout[-2000:] + done.stderr[-4000:] + _client_server_logs(temp_dir)
    )
    scored = next(out.glob("*/*"))
    assert pq.read_table(scored).num_rows == sum(1 for p in small_corpus.rglob("*.txt"))
    assert with_token["RAY_AUTH_TOKEN"] not in done.stdout + done.stderr
