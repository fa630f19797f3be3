"""A real `mlflow server --app-name doclstm-auth` on loopback: MLflow's basic-auth, and the
champion moved only by the gate's account.

Without credentials nothing can be registered and no alias set (401); `doclstm run` and
`doclstm score` work end to end as the gate's account, from MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD, and print neither password; the pipeline's account, given
"edit" on the model, registers a version and sets `challenger`, but moving `champion`
is refused (403) until the gate's account does it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TINY
from tests.local_servers import mlflow_server

ROOT = Path(__file__).resolve().parents[2]
MODEL = "auth-model"
ADMIN_PASSWORD = secrets.token_urlsafe(18)
PASSWORDS = {
    "doclstm-gate": secrets.token_urlsafe(18),
    "doclstm-pipeline": secrets.token_urlsafe(18),
}


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow_auth")
    config = root / "auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{root / 'users.db'}\n"
        "admin_username = admin\n"
        f"admin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"  # as infra/mlflow/auth.ini: one hash per minute
    )
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(24),  # basic-auth asks for one
    }
    with mlflow_server(root, app_name="doclstm-auth", extra_env=env) as uri:
        admin = ("admin", ADMIN_PASSWORD)
        for user, password in PASSWORDS.items():
            created = httpx.post(
                f"{uri}/api/2.0/mlflow/users/create",
                json={"username": user, "password": password},
                auth=admin,
            )
            assert created.status_code == 200, created.text
        yield uri


def _as(user: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLFLOW_TRACKING_USERNAME": user,
        "MLFLOW_TRACKING_PASSWORD": PASSWORDS[user],
    }


def _alias(uri: str, user: str | None, alias: str, version: str) -> httpx.Response:
    auth = (user, PASSWORDS[user]) if user else None
    return httpx.post(
        f"{uri}/api/2.0/mlflow/registered-models/alias",
        json={"name": MODEL, "alias": alias, "version": version},
        auth=auth,
    )


@pytest.mark.slow
def test_the_gate_s_account_alone_moves_the_champion(
    auth_server: str, small_corpus: Path, tmp_path: Path
) -> None:
    uri = auth_server
    # Nobody without credentials registers a model or sets an alias.
    created = httpx.post(f"{uri}/api/2.0/mlflow/registered-models/create", json={"name": "x"})
    assert created.status_code == 401
    assert _alias(uri, None, "champion", "1").status_code == 401

    # The whole pipeline, then scoring, as the gate's account.
    sets = [
        f"base.workspace={tmp_path / 'workspace'}",
        f"ingest.source={small_corpus}",
        f"score.input={small_corpus}",
        f"register.tracking_uri={uri}",
        f"register.model_name={MODEL}",
        *TINY,
    ]
    args = [arg for item in sets for arg in ("--set", item)]
    env = {**_as("doclstm-gate"), "PREFECT_HOME": str(tmp_path / "prefect")}
    printed = ""
    for command in (["run", *args], ["score", "--model", f"models:/{MODEL}@champion", *args]):
        done = subprocess.run(
            [sys.executable, "-m", "doclstm.cli", *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        printed += done.stdout + done.stderr
    assert not any(password in printed for password in (*PASSWORDS.values(), ADMIN_PASSWORD))
    assert any((tmp_path / "workspace/predictions" / MODEL / "1").glob("part-*.parquet"))

    admin = ("admin", ADMIN_PASSWORD)
    first = httpx.get(
        f"{uri}/api/2.0/mlflow/registered-models/alias",
        params={"name": MODEL, "alias": "champion"},
        auth=admin,
    ).json()["model_version"]
    granted = httpx.post(
        f"{uri}/api/3.0/mlflow/users/permissions/grant",
        json={
            "username": "doclstm-pipeline",
            "resource_type": "registered_model",
            "resource_id": MODEL,
            "permission": "EDIT",
        },
        auth=admin,
    )
    assert granted.status_code == 200, granted.text

    # The pipeline's account registers a version and makes it the challenger...
    pipeline = ("doclstm-pipeline", PASSWORDS["doclstm-pipeline"])
    version = httpx.post(
        f"{uri}/api/2.0/mlflow/model-versions/create",
        json={
            "name": MODEL,
            "source": first["source"],
            "model_id": first["source"].removeprefix("models:/"),  # the logged model
        },
        auth=pipeline,
    )
    assert version.status_code == 200, version.text
    number = version.json()["model_version"]["version"]
    assert _alias(uri, "doclstm-pipeline", "challenger", number).status_code == 200
    # ... but may not make it the champion, nor take the alias away.
    refused = _alias(uri, "doclstm-pipeline", "champion", number)
    assert refused.status_code == 403 and "doclstm-gate" in refused.text
    removed = httpx.request(
        "DELETE",
        f"{uri}/api/2.0/mlflow/registered-models/alias",
        json={"name": MODEL, "alias": "champion"},
        auth=pipeline,
    )
    assert removed.status_code == 403
    # The gate's account may.
    assert _alias(uri, "doclstm-gate", "champion", number).status_code == 200
    champion = httpx.get(
        f"{uri}/api/2.0/mlflow/registered-models/alias",
        params={"name": MODEL, "alias": "champion"},
        auth=pipeline,
    )
    assert champion.json()["model_version"]["version"] == number
