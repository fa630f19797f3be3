"""A damaged model is refused by name wherever it is read: evaluate, register, the gate,
scoring, the pyfunc. Nothing damaged reaches MLflow or becomes champion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from mlflow import MlflowClient

from doclstm.errors import DoclstmError
from doclstm.registry.model_registry import Registry
from doclstm.scoring.model_ref import resolve_model
from doclstm.storage.fingerprint import sha256_file
from doclstm.tasks.score import score_documents
from doclstm.tasks.table import run_stage, score_arguments
from tests.conftest import tiny_params

ROOT = Path(__file__).resolve().parents[2]
MODEL = "doclstm-bbcnews"
CHECKSUM = "checksum mismatch with manifest.json (corrupt or modified)"
RETRAIN = "rerun `doclstm stage train`"


def _workspace(built: Path, tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    shutil.copytree(built, workspace)
    return workspace


def _truncate(path: Path, size: int = 20_000) -> None:
    with path.open("r+b") as handle:
        handle.truncate(size)


def _mlflow_counts(workspace: Path) -> tuple[int, int]:
    """(registered versions of MODEL, runs) in the workspace's own MLflow store."""
    client = MlflowClient(f"sqlite:///{workspace / 'data/mlflow/mlflow.db'}")
    versions = client.search_model_versions(f"name='{MODEL}'")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return len(versions), len(runs)


def test_a_truncated_model_fails_evaluate_register_and_score_by_name(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    workspace = _workspace(built_workspace, tmp_path)
    params = tiny_params(workspace, small_corpus)
    weights = workspace / "models/main/model.safetensors"
    before = _mlflow_counts(workspace)
    _truncate(weights)
    expected = f"{weights}: {CHECKSUM}; {RETRAIN}"

    # evaluate: its outputs are unchanged, but it no longer reuses them for a damaged model.
    with pytest.raises(DoclstmError) as evaluate:
        run_stage("evaluate", params)
    assert str(evaluate.value) == f"{expected} to write the model folder again"
    with pytest.raises(DoclstmError) as register:
        run_stage("register", params)
    assert str(register.value) == f"{expected}; nothing was registered"
    assert _mlflow_counts(workspace) == before  # nothing reached MLflow
    local = tiny_params(workspace, small_corpus, f"score.model={weights.parent}")
    with pytest.raises(DoclstmError, match=f"^{weights}: checksum mismatch"):
        score_documents(**score_arguments(local).as_kwargs())

    # At the command line: one line, exit 2, no traceback.
    params_file = workspace / "params.yaml"
    params_file.write_text(json.dumps(params.model_dump(mode="json", by_alias=True)))
    done = subprocess.run(
        [sys.executable, "-m", "doclstm.cli", "stage", "register", "--params", str(params_file)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in out, out[-2000:]
    assert "model.safetensors: checksum mismatch with manifest.json" in out

    # A manifest rewritten to match the bad bytes still fails in one line, not a traceback.
    manifest_path = weights.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["model.safetensors"]["sha256"] = sha256_file(weights)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DoclstmError, match=f"^{weights}: unreadable, or does not fit config"):
        score_documents(**score_arguments(local).as_kwargs())


def test_a_registered_version_damaged_in_the_store_is_never_promoted_or_loaded(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    workspace = _workspace(built_workspace, tmp_path)
    params = tiny_params(workspace, small_corpus)
    record = run_stage("register", params)
    client = MlflowClient(record.tracking_uri)
    version = client.get_model_version(MODEL, record.version)
    # The store's own copy of the weights: damaged where MLflow keeps it.
    logged = client.get_logged_model(version.source.removeprefix("models:/"))
    in_store = list(Path(unquote(urlparse(logged.artifact_location).path)).rglob("*.safetensors"))
    assert len(in_store) == 1
    _truncate(in_store[0])

    registered = f"models:/{MODEL}/{record.version}"
    with pytest.raises(DoclstmError) as gate:
        run_stage("gate", params)  # TINY: thresholds 0, so it would promote
    assert str(gate.value) == (
        f"{registered}/model.safetensors: {CHECKSUM}; the registered version is damaged "
        f"({registered}, run {version.run_id}); it must not score or be promoted: "
        "register a new version, or promote another"
    )
    registry = Registry(record.tracking_uri, MODEL)
    assert registry.champion() is None
    tags = registry.version_tags(record.version)
    assert tags["decision"] == "rejected" and "fail verification" in tags["reason"]
    assert not (workspace / "data/model_cache" / MODEL / record.version).exists()

    # The pyfunc, loaded by registry URI in a fresh process, refuses it in one line.
    code = f"import mlflow; mlflow.pyfunc.load_model({registered!r})"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "MLFLOW_TRACKING_URI": record.tracking_uri},
    )
    assert done.returncode != 0
    assert "model.safetensors: checksum mismatch with manifest.json" in done.stderr
    assert "the registered model is damaged: register a new version" in done.stderr


def test_a_damaged_cached_copy_is_downloaded_again(
    built_workspace: Path, small_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = _workspace(built_workspace, tmp_path)
    record = run_stage("register", tiny_params(workspace, small_corpus))
    cache = tmp_path / "cache"
    first = resolve_model(f"models:/{MODEL}/{record.version}", record.tracking_uri, cache)
    intact = (first.model_dir / "model.safetensors").read_bytes()
    _truncate(first.model_dir / "model.safetensors")
    again = resolve_model(f"models:/{MODEL}/{record.version}", record.tracking_uri, cache)
    assert (again.model_dir / "model.safetensors").read_bytes() == intact
    assert "model cache: " in caplog.text and "downloading it again" in caplog.text
