"""Metrics written straight into a SQLite MLflow store read back through MLflow exactly
as the ones MLflow's client logs, and anything unexpected is left to the client."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric

from doclstm.pipeline.mlflow_sqlite import STORE_REVISION, log_version_metrics

POINTS = [
    {"drift/documents": 20.0, "drift/psi": 0.5, "drift/nan": math.nan, "drift/inf": math.inf},
    {"drift/documents": 7.0, "drift/psi": 0.25, "drift/nan": 1.0, "drift/inf": -math.inf},
]


def _store(tmp_path: Path) -> tuple[str, MlflowClient, list[str]]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "a").as_uri())
    client.create_registered_model("m")
    runs = []
    for _ in range(2):
        run = client.create_run(experiment).info.run_id
        client.create_model_version("m", str(tmp_path), run_id=run)
        runs.append(run)
    return uri, client, runs


def _seen(client: MlflowClient, run: str) -> str:
    """What MLflow reads: every point of each key and the latest values (as text, for NaN)."""
    history = {
        key: [(m.step, m.value) for m in client.get_metric_history(run, key)] for key in POINTS[0]
    }
    return repr((history, sorted(client.get_run(run).data.metrics.items())))


def test_direct_rows_read_back_as_the_clients_do(tmp_path: Path) -> None:
    uri, client, (direct, through_mlflow) = _store(tmp_path)
    for step, point in enumerate(POINTS):
        assert log_version_metrics(uri, "m", "1", point, "drift/documents") is True
        stamp = client.get_metric_history(direct, "drift/documents")[-1].timestamp
        client.log_batch(through_mlflow, [Metric(k, v, stamp, step) for k, v in point.items()])
    assert _seen(client, direct) == _seen(client, through_mlflow)
    assert [(m.step, m.value) for m in client.get_metric_history(direct, "drift/documents")] == [
        (0, 20.0),
        (1, 7.0),
    ]
    assert math.isnan(client.get_metric_history(direct, "drift/nan")[0].value)
    latest = client.get_run(direct).data.metrics
    assert latest["drift/psi"] == 0.25 and latest["drift/inf"] < -1e308


def test_the_pinned_mlflow_makes_the_revision_written_for(tmp_path: Path) -> None:
    _store(tmp_path)
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (STORE_REVISION,)
        ]


def test_anything_unexpected_is_left_to_mlflow(tmp_path: Path) -> None:
    uri, client, (run, _) = _store(tmp_path)
    point = POINTS[0]
    assert log_version_metrics("http://mlflow:5000", "m", "1", point, "x") is None
    assert log_version_metrics(f"sqlite:///{tmp_path / 'no.db'}", "m", "1", point, "x") is None
    assert log_version_metrics(uri, "m", "9", point, "x") is None  # MLflow names the error
    client.delete_run(run)
    assert log_version_metrics(uri, "m", "1", point, "x") is None
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'newer'")
    assert log_version_metrics(uri, "m", "2", point, "x") is None
    assert client.get_metric_history(client.get_model_version("m", "2").run_id, "x") == []


def test_a_version_without_a_run_has_nothing_to_log_on(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.create_registered_model("m")
    client.create_model_version("m", str(tmp_path))
    assert log_version_metrics(uri, "m", "1", POINTS[0], "drift/documents") is False
