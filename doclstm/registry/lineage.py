"""What a trained model came from, as MLflow tags: code, data and tokenizer hashes.

The tokens fingerprint chains every upstream stage's fingerprint (params and
input hashes, down to the source files), so it alone identifies the data.
When the stage runs under `dvc repro` (DVC sets `DVC_ROOT` for a stage's
command), the hashes DVC recorded in dvc.lock for the data stages' outputs
are added, so a run can be matched to a DVC-tracked data version. A model
fine-tuned from a pretrained encoder (doclstm/tasks/pretrain.py) also names that
encoder: its fingerprint and the MLflow run that trained it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from doclstm.config.tracking import git_commit
from doclstm.storage.fingerprint import sha256_file
from doclstm.storage.manifest import StageManifest

DATA_STAGES = ("ingest", "validate", "tokenize")


def lineage_tags(tokens_dir: Path) -> dict[str, str]:
    tokens = StageManifest.load(tokens_dir)
    tags = {
        "git_commit": git_commit(Path.cwd()),
        "data.tokens.fingerprint": tokens.fingerprint,
        "data.tokens.manifest_sha256": sha256_file(tokens_dir / "manifest.json"),
        "data.tokenizer_sha256": str(tokens.summary["tokenizer_sha256"]),
    }
    dvc_root = os.environ.get("DVC_ROOT")
    tags["data.dvc"] = "dvc repro" if dvc_root else "not run by dvc"
    if dvc_root:
        tags |= dvc_lock_hashes(Path(dvc_root) / "dvc.lock")
    return tags


def dvc_lock_hashes(lock_file: Path) -> dict[str, str]:
    """`dvc.<stage>.<out path>.md5` for every output of the data stages in dvc.lock."""
    if not lock_file.is_file():
        return {}
    stages = (yaml.safe_load(lock_file.read_text(encoding="utf-8")) or {}).get("stages", {})
    tags = {}
    for stage in DATA_STAGES:
        for out in stages.get(stage, {}).get("outs", []):
            if "md5" in out:
                tags[f"dvc.{stage}.{out['path']}.md5"] = str(out["md5"])
    return tags


def encoder_tags(model_summary: dict[str, Any]) -> dict[str, str]:
    """`pretrain.*`: the encoder a model started from (its train manifest's summary,
    doclstm/tasks/train.py `encoder_lineage`); none for a model trained from scratch."""
    keys = {
        "encoder_fingerprint": "pretrain.encoder_fingerprint",
        "encoder_mlflow_run_id": "pretrain.mlflow_run_id",
        "encoder_mlflow_tracking_uri": "pretrain.mlflow_tracking_uri",
    }
    return {tag: str(model_summary[k]) for k, tag in keys.items() if model_summary.get(k)}
