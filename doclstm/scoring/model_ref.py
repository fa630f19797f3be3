"""Resolve a model reference to a local model folder plus the name and version to record.

A reference is `models:/<name>/<version>`, `models:/<name>@<alias>` (MLflow
registry), or a folder written by the train stage. Registry models are
downloaded once into a cache folder keyed by name and version, and verified
against the train manifest that travels with them, both when downloaded and
each time the cache is used: a damaged cached copy is downloaded again, a
damaged registered version is refused with one line.

Which version a reference names is MLflow's answer, through its client. With the
default store, a local SQLite file, the answer is also kept beside the cached copies
(`<cache>/<name>/answers.json`) with the store file's size and modification time: while
the file is unchanged, nothing in the registry can have moved, so `doclstm predict`
with a cached champion takes the kept answer and does not pay the two seconds of
importing MLflow. Any write to the store (a new version, a moved alias, a metric)
makes the next lookup ask MLflow again.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doclstm.config.tracking import registered_models_hint
from doclstm.errors import DoclstmError
from doclstm.models.model_folder import COPIED_MODEL_FILES, MODEL_FILES, verify_model_dir
from doclstm.storage.atomic import atomic_dir, write_json

log = logging.getLogger(__name__)
ANSWERS = "answers.json"  # {reference body: version}, with the store's state they hold for


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
    local = kept_answer(body, tracking, cache_dir)
    if local is not None:
        return local
    state = store_state(tracking)  # read before asking: a write after it voids the answer
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
        keep_answer(body, str(version.version), state, cache_dir)
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
    keep_answer(body, str(version.version), state, cache_dir)
    return ResolvedModel(target, name, str(version.version))


def store_state(tracking: str) -> str | None:
    """The size and modification time of a `sqlite:///` store's files (the database and
    its write-ahead log), which any write to the store changes; None for other stores."""
    if not tracking.startswith("sqlite:///"):
        return None
    database = Path(tracking.removeprefix("sqlite:///"))
    stats = []
    for path in (database, database.with_name(f"{database.name}-wal")):
        if path.is_file():
            stat = path.stat()
            stats.append(f"{stat.st_size}:{stat.st_mtime_ns}")
    return f"{database.resolve()}|{'|'.join(stats)}" if stats else None


def kept_answer(body: str, tracking: str, cache_dir: Path) -> ResolvedModel | None:
    """The version MLflow last gave for `models:/<body>`, when the store has not changed
    since and the cached copy verifies; else None (ask MLflow)."""
    state = store_state(tracking)
    name = _model_name(body)
    answers = _answers(cache_dir / name)
    if state is None or answers.get("state") != state or body not in answers["versions"]:
        return None
    version = answers["versions"][body]
    target = cache_dir / name / version
    return ResolvedModel(target, name, version) if _cached_copy_verifies(target) else None


def keep_answer(body: str, version: str, state: str | None, cache_dir: Path) -> None:
    """Keep MLflow's answer for `models:/<body>` with the store state it was read under;
    answers kept under another state are dropped."""
    if state is None:
        return
    name = _model_name(body)
    answers = _answers(cache_dir / name)
    versions = answers["versions"] if answers.get("state") == state else {}
    write_json(
        cache_dir / name / ANSWERS, {"state": state, "versions": {**versions, body: version}}
    )


def _model_name(body: str) -> str:
    """`name` of `name@alias` or `name/version`."""
    return body.split("@", 1)[0].partition("/")[0]


def _answers(folder: Path) -> dict[str, Any]:
    try:
        answers = json.loads((folder / ANSWERS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"versions": {}}
    return answers if isinstance(answers.get("versions"), dict) else {"versions": {}}


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
