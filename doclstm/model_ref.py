"""Resolve a model reference to a local model folder plus the name and version to record.

A reference is `models:/<name>/<version>`, `models:/<name>@<alias>` (MLflow
registry), or a folder written by the train stage. Registry models are
downloaded once into a cache folder keyed by name and version.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import mlflow
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from doclstm.atomic import atomic_dir
from doclstm.checkpoint import MODEL_FILES
from doclstm.errors import DoclstmError
from doclstm.manifest import StageManifest


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
        fingerprint = StageManifest.load(folder).fingerprint
        return ResolvedModel(folder, folder.name, f"local-{fingerprint[:12]}")
    client = MlflowClient(tracking)
    body = reference.removeprefix("models:/")
    try:
        if "@" in body:
            name, alias = body.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, _, number = body.partition("/")
            version = client.get_model_version(name, number)
    except MlflowException as exc:
        raise DoclstmError(
            f"score.model: {reference} not found in {tracking}: {exc.message}"
        ) from exc
    target = cache_dir / name / str(version.version)
    if not all((target / f).is_file() for f in MODEL_FILES):
        location = client.get_model_version_download_uri(name, version.version)
        with atomic_dir(target) as tmp:
            download = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=location, dst_path=str(tmp / "pyfunc"), tracking_uri=tracking
                )
            )
            mlmodel = yaml.safe_load((download / "MLmodel").read_text(encoding="utf-8"))
            folder = mlmodel["flavors"]["python_function"]["artifacts"]["model_dir"]["path"]
            for f in MODEL_FILES:
                (download / folder / f).rename(tmp / f)
            shutil.rmtree(tmp / "pyfunc")
    return ResolvedModel(target, name, str(version.version))
