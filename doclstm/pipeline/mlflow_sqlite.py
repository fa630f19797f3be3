"""A registered version's run metrics logged straight into a local SQLite MLflow store.

Importing MLflow and opening its SQLAlchemy store takes about 2.4 s on the 2-core
machine, more than scoring 20 documents; `doclstm score` logs a handful of drift
metrics per run, so for the default store (a SQLite file) it writes the rows itself,
as MLflow's `log_batch` would: one `metrics` row a point and the `latest_metrics` row
kept at the newest (step, timestamp, value), NaN as 0 with `is_nan`, infinities as the
largest float. Only for the schema revision the pinned MLflow creates
(STORE_REVISION; a test creates a store with MLflow and compares, and reads the rows
back through MLflow): for any other store, revision or surprise, `log_version_metrics`
answers None and the caller goes through MLflow's client. The store's file and how a
live version is told apart are shared with the read-only lookup of a cached version
(doclstm/scoring/model_ref.py).
"""

from __future__ import annotations

import math
import sqlite3
import sys
import time
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

STORE_REVISION = "dc11669786a5"  # alembic head of mlflow==3.17.2 (constraints.txt)
LIVE_VERSION = "current_stage != 'Deleted_Internal'"  # how MLflow marks a deleted version


def sqlite_store(tracking: str) -> Path | None:
    """The database file of a `sqlite:///` tracking URI when it exists; else None."""
    database = Path(tracking.removeprefix("sqlite:///"))
    return database if tracking.startswith("sqlite:///") and database.is_file() else None


def log_version_metrics(
    tracking: str, model_name: str, version: str, values: Mapping[str, float], count_key: str
) -> bool | None:
    """`values` as one point, at the next step, on the run of `model_name` version
    `version`: the step is how many points `count_key` has. True when logged, False when
    the version has no run, None when this store is not one to write directly."""
    database = sqlite_store(tracking)
    if database is None:
        return None
    try:
        with closing(sqlite3.connect(database, timeout=60, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")  # one writer: the step count cannot race
            try:
                logged = _log(db, model_name, version, values, count_key)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT" if logged is not None else "ROLLBACK")
            return logged
    except sqlite3.Error:
        return None


def _log(
    db: sqlite3.Connection,
    model_name: str,
    version: str,
    values: Mapping[str, float],
    count_key: str,
) -> bool | None:
    revision = db.execute("SELECT version_num FROM alembic_version").fetchall()
    if revision != [(STORE_REVISION,)]:
        return None
    runs = db.execute(
        f"SELECT run_id FROM model_versions WHERE name = ? AND version = ? AND {LIVE_VERSION}",
        (model_name, int(version)),
    ).fetchall()
    if len(runs) != 1:  # none, or one a workspace: let MLflow say what is wrong
        return None
    run_id = runs[0][0]
    if run_id is None:  # a version registered from outside a run
        return False
    stage = db.execute("SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (run_id,))
    if stage.fetchall() != [("active",)]:
        return None
    (step,) = db.execute(
        "SELECT count(*) FROM metrics WHERE run_uuid = ? AND key = ?", (run_id, count_key)
    ).fetchone()
    now = int(time.time() * 1000)
    for key, raw in values.items():
        is_nan, value = _stored(float(raw))
        row = (key, value, now, run_id, step, is_nan)
        db.execute(
            "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            row,
        )
        db.execute(
            "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, run_uuid) DO UPDATE SET "
            "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "
            "is_nan = excluded.is_nan WHERE (excluded.step, excluded.timestamp, "
            "excluded.value) > (latest_metrics.step, latest_metrics.timestamp, "
            "latest_metrics.value)",
            row,
        )
    return True


def _stored(value: float) -> tuple[int, float]:
    """(is_nan, value) as MLflow's SQL store keeps a metric."""
    if math.isnan(value):
        return 1, 0.0
    if math.isinf(value):
        return 0, math.copysign(sys.float_info.max, value)
    return 0, value
