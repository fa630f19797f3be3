"""The MLflow server app `doclstm-auth`: MLflow's basic-auth app, and the champion moved
only by the accounts the server names.

MLflow's basic-auth app gives each user permissions per experiment and registered model,
but creating a model version and setting an alias take the same one ("update" on the
registered model), so an account that may register a challenger may also make it the
champion. This app adds one rule on top: setting or deleting the `champion` alias of any
model is refused (403) unless the authenticated user is one of the accounts in
`DOCLSTM_CHAMPION_ACCOUNTS` (the server's environment, comma-separated; default the
gate's account `doclstm-gate` and `admin`). Every other request is MLflow's to allow or
refuse, after its own authentication.

    mlflow server --app-name doclstm-auth ...     # MLFLOW_AUTH_CONFIG_PATH: users' store, admin
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, jsonify, request

CHAMPION = "champion"
ALIAS_PATHS = frozenset(f"/{api}/2.0/mlflow/registered-models/alias" for api in ("api", "ajax-api"))
DEFAULT_ACCOUNTS = "doclstm-gate,admin"


def champion_accounts() -> frozenset[str]:
    """The accounts that may move `champion`, from the server's environment."""
    names = os.environ.get("DOCLSTM_CHAMPION_ACCOUNTS", DEFAULT_ACCOUNTS).split(",")
    return frozenset(name.strip() for name in names if name.strip())


def create_app(app: Flask | None = None) -> Any:
    """MLflow's basic-auth app on `app` (MLflow's server app by default), with the champion
    rule run after its authentication."""
    from mlflow.server import app as mlflow_app
    from mlflow.server.auth import create_app as basic_auth

    flask_app = app if app is not None else mlflow_app
    served = basic_auth(flask_app)  # registers its own authentication first
    accounts = champion_accounts()
    flask_app.before_request(lambda: _refuse_champion_moves(accounts))
    return served


def _refuse_champion_moves(accounts: frozenset[str]) -> Response | None:
    if request.path not in ALIAS_PATHS or request.method not in ("POST", "DELETE"):
        return None
    body = request.get_json(silent=True) or {}
    alias = body.get("alias") or request.args.get("alias")
    user = request.authorization.username if request.authorization else None
    if alias != CHAMPION or user in accounts:
        return None
    response = jsonify(
        error_code="PERMISSION_DENIED",
        message=f"only {', '.join(sorted(accounts))} may move the {CHAMPION!r} alias "
        "(DOCLSTM_CHAMPION_ACCOUNTS on the MLflow server)",
    )
    response.status_code = 403
    return response
