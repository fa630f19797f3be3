"""Whether tonight's retraining can be skipped: the training key and the registry's memory of it.

A training key is the DVC md5 of every ingest source plus a hash of the params
that shape a model (`Params.model_settings`: everything but `score.*`, `nightly.*` and
where or how long to wait; a kept tokenizer or encoder by content) and of the training
stages' code (doclstm/storage/code_digest.py).
`nightly_retrain` records it on the MLflow run and the model version it
trained. The next night, when the champion, or a later version the gate or a
person already turned down, carries the same key, retraining would rebuild
the same model from the same data: the flow stops there and says which
version and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from doclstm.config.params import Params
from doclstm.config.workspace import initial_encoder, pinned_tokenizer
from doclstm.registry.model_registry import Registry
from doclstm.sources.resolve import resolve_source
from doclstm.storage.data_hash import dvc_md5
from doclstm.storage.fingerprint import sha256_json
from doclstm.storage.manifest import StageManifest
from doclstm.text.tokenizer import fixed_vocabulary_sha256

KEY_TAG = "doclstm.nightly.key"
DATA_TAG = "doclstm.data.dvc_md5"  # {source name: DVC md5}, as JSON
PARAMS_TAG = "doclstm.params.sha256"


@dataclass(frozen=True)
class TrainingKey:
    data: dict[str, str]  # source name -> DVC md5 (`<md5>.dir` for a folder)
    params: str  # sha256 of the params that shape a model

    @property
    def digest(self) -> str:
        return sha256_json({"data": self.data, "params": self.params})

    def tags(self) -> dict[str, str]:
        return {
            KEY_TAG: self.digest,
            DATA_TAG: json.dumps(self.data, sort_keys=True),
            PARAMS_TAG: self.params,
        }

    def describe(self) -> str:
        data = ", ".join(f"{name} {md5[:12]}" for name, md5 in sorted(self.data.items()))
        return f"data {data}; params {self.params[:12]}"


@dataclass(frozen=True)
class SkipCheck:
    skip: bool
    reason: str
    version: str | None  # the version that already carries the key


def training_key(params: Params, state_dir: Path, code: str) -> TrainingKey:
    """DVC hashes of the ingest sources and the hash of the model-shaping params and of
    `code`, the digest of the training stages' code (doclstm/tasks/table.training_code)."""
    sources = [resolve_source(spec, params.base.workspace) for spec in params.ingest.source]
    data = {source.name: dvc_md5(source.path, state_dir) for source in sources}
    return TrainingKey(data, model_params_hash(params, code))


def model_params_hash(params: Params, code: str) -> str:
    """The hash of `Params.model_settings`, a kept or MiniLM tokenizer and an encoder by
    content, and the training code's digest `code`: new code trains a new model."""
    pinned = pinned_tokenizer(params)
    encoder = initial_encoder(params) if params.train.init_from else None
    settings = params.model_settings(
        fixed_vocabulary_sha256(params.tokenize, pinned),
        StageManifest.load(encoder).fingerprint if encoder is not None else None,
    )
    return sha256_json({"code": code, "settings": settings})


def check_unchanged(tracking_uri: str, model_name: str, key: TrainingKey) -> SkipCheck:
    """Skip when the champion, or a version judged after it, was trained on this key."""
    registry = Registry(tracking_uri, model_name)
    champion = registry.champion()
    if champion is not None and registry.version_tags(champion).get(KEY_TAG) == key.digest:
        return SkipCheck(
            True,
            f"data and params unchanged since champion version {champion} ({key.describe()})",
            champion,
        )
    for version, tags in _versions_newest_first(registry.client, model_name):
        if tags.get(KEY_TAG) == key.digest and tags.get("decision"):
            return SkipCheck(
                True,
                f"data and params unchanged since version {version}, which was "
                f"{tags['decision'].replace('_', ' ')} by {tags.get('decided_by', '?')} at "
                f"{tags.get('decided_at', '?')}: {tags.get('reason', '')} ({key.describe()})",
                version,
            )
    where = f"champion version {champion}" if champion else "no champion yet"
    return SkipCheck(False, f"new data or params ({key.describe()}); {where}", None)


def record_training_key(
    tracking_uri: str, model_name: str, version: str, run_id: str, key: TrainingKey
) -> None:
    """Tag the MLflow run and the model version with the key they were trained on."""
    client = MlflowClient(tracking_uri)
    for name, value in key.tags().items():
        client.set_tag(run_id, name, value)
        client.set_model_version_tag(model_name, version, name, value)


def _versions_newest_first(client: MlflowClient, name: str) -> list[tuple[str, dict[str, str]]]:
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return []
    ordered = sorted(versions, key=lambda v: int(v.version), reverse=True)
    return [(str(v.version), dict(v.tags)) for v in ordered]
