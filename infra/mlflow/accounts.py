"""The MLflow accounts of the stack, created by the admin through MLflow's REST API; safe
to run again (an account that exists keeps its password).

    doclstm-gate      the worker: logs runs, registers versions and, alone with the admin,
                      moves the `champion` alias (DOCLSTM_CHAMPION_ACCOUNTS on the server)
    doclstm-pipeline  training runs from elsewhere: logs runs and registers versions once
                      the admin grants it EDIT on the model; never moves `champion`
"""

import os
import sys

import requests

URI = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
ADMIN = ("admin", os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"])
ACCOUNTS = {
    "doclstm-gate": os.environ["MLFLOW_GATE_PASSWORD"],
    "doclstm-pipeline": os.environ["MLFLOW_PIPELINE_PASSWORD"],
}

for username, password in ACCOUNTS.items():
    exists = requests.get(
        f"{URI}/api/2.0/mlflow/users/get", params={"username": username}, auth=ADMIN, timeout=30
    )
    if exists.status_code == 200:
        print(f"{username}: exists")
        continue
    created = requests.post(
        f"{URI}/api/2.0/mlflow/users/create",
        json={"username": username, "password": password},
        auth=ADMIN,
        timeout=30,
    )
    if created.status_code != 200:
        sys.exit(f"{username}: {created.status_code} {created.text[:300]}")
    print(f"{username}: created")
