"""Resolve a model reference to a local model folder plus the name and version to record.

A reference is `models:/<name>/<version>`, `models:/<name>@<alias>` (MLflow
registry), or a folder written by the train stage. Registry models are
downloaded once into a cache folder keyed by name and version, and verified
against the train manifest that travels with them, both when downloaded and
each time the cache is used: a damaged cached copy is downloaded again, a
damaged registered version is refused with one line.

MLflow is imported only for a registry reference whose version is not in the cache
yet, or whose store is not a local SQLite file: with the default store, the version
an alias points at is read from the SQLite file directly (read-only, the tables
MLflow's registry keeps), so `doclstm predict` with a cached champion does not pay
for importing MLflow. Anything unexpected there falls back to MLflow's client.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from doclstm.errors import DoclstmError
from doclstm.models.model_folder import COPIED_MODEL_FILES, MODEL_FILES, verify_model_dir
from doclstm.pipeline.mlflow_sqlite import LIVE_VERSION, sqlite_store
from doclstm.pipeline.tracking import registered_models_hint
from doclstm.storage.atomic import atomic_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedModel:
    model_dir: Path
    name: str
    version: str


def resolve_model(reference: str, tracking: str, cache_dir: Path) -> ResolvedModel:
    if not reference.startswith("models:/"):
        folder = Path(reference)
        if not (folder / MODEL_FILES[0]).is_file():
            raise DoclstmError(
                f"score.model: {folder} is not a model folder; give models:/<name>/<version>, "
                "models:/<name>@<alias> or a folder written by the train stage"
            )
        fingerprint = verify_model_dir(folder).fingerprint
        return ResolvedModel(folder, folder.name, f"local-{fingerprint[:12]}")
    body = reference.removeprefix("models:/")
    local = _local_cached_version(body, tracking, cache_dir)
    if local is not None:
        return local
    import mlflow
    import yaml
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking)
    try:
        if "@" in body:
            name, alias = body.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, _, number = body.partition("/")
            version = client.get_model_version(name, number)
    except MlflowException as exc:
        hint = registered_models_hint(client, name)
        raise DoclstmError(
            f"score.model: {reference} not found in {tracking}: {exc.message}{hint}"
        ) from exc
    target = cache_dir / name / str(version.version)
    if _cached_copy_verifies(target):
        return ResolvedModel(target, name, str(version.version))
    location = client.get_model_version_download_uri(name, version.version)
    registered = f"models:/{name}/{version.version}"
    damaged = (
        f"the registered version is damaged ({registered}, run {version.run_id}); it "
        "must not score or be promoted: register a new version, or promote another"
    )
    with atomic_dir(target) as tmp:
        download = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=location, dst_path=str(tmp / "pyfunc"), tracking_uri=tracking
            )
        )
        mlmodel = yaml.safe_load((download / "MLmodel").read_text(encoding="utf-8"))
        folder = mlmodel["flavors"]["python_function"]["artifacts"]["model_dir"]["path"]
        for f in COPIED_MODEL_FILES:
            if (download / folder / f).is_file():
                (download / folder / f).rename(tmp / f)
        shutil.rmtree(tmp / "pyfunc")
        verify_model_dir(tmp, damaged, shown_as=registered)
    return ResolvedModel(target, name, str(version.version))


def _local_cached_version(body: str, tracking: str, cache_dir: Path) -> ResolvedModel | None:
    """The cached copy of `models:/<body>` when the store is a local SQLite file that
    names its version and the copy verifies; else None (ask MLflow)."""
    database = sqlite_store(tracking)
    if database is None:
        return None
    if "@" in body:
        name, alias = body.split("@", 1)
        query = "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?"
        args = (name, alias)
    else:
        name, _, number = body.partition("/")
        query = (
            f"SELECT version FROM model_versions WHERE name = ? AND version = ? AND {LIVE_VERSION}"
        )
        args = (name, number)
    try:
        with closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as db:
            found = db.execute(query, args).fetchone()
    except sqlite3.Error:
        return None
    if found is None:
        return None
    target = cache_dir / name / str(found[0])
    return ResolvedModel(target, name, str(found[0])) if _cached_copy_verifies(target) else None


def _cached_copy_verifies(target: Path) -> bool:
    """True when a complete, intact copy is in the cache; a damaged one is logged."""
    if not all((target / f).is_file() for f in MODEL_FILES):
        return False
    try:
        verify_model_dir(target, "downloading it again")
    except DoclstmError as exc:
        log.warning("model cache: %s", exc)
        return False
    return True
