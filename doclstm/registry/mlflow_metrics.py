"""What `register` logs on a run: its params, and its metrics named for MLflow's
sections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric

from doclstm.config.tracking import flatten, log_params, metric_name

SCALARS = (
    "accuracy",
    "macro_f1",
    "log_loss",
    "roc_auc",
    "pr_auc",
    "expected_calibration_error",
)
# several labels a document; `accuracy` is the subset accuracy (every label right), as
# scikit-learn's accuracy_score reads label matrices
MULTILABEL_SCALARS = (
    "micro_f1",
    "macro_f1",
    "samples_f1",
    "hamming_loss",
    "label_ranking_average_precision",
    "log_loss",
    "expected_calibration_error",
)


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar test metrics, named for MLflow's sections (`test/accuracy`,
    `test/accuracy_ci95_low`, `test_f1/<class>`); an AUC undefined on this split (None)
    is left out. A model of several labels a document adds micro- and samples-F1, the
    Hamming loss and the label-ranking average precision, and its per-label figures go
    where the classes' do."""
    if "per_label" in metrics:
        scalars = {k: metrics[k] for k in MULTILABEL_SCALARS}
        scalars["accuracy"] = metrics["subset_accuracy"]
        intervals = {
            ("accuracy" if k == "subset_accuracy" else k): v
            for k, v in metrics["intervals_95"].items()
        }
        classes = metrics["per_label"]
    else:
        scalars = {k: metrics[k] for k in SCALARS}
        intervals, classes = metrics["intervals_95"], metrics["per_class"]
    final = {f"test/{k}": float(v) for k, v in scalars.items() if v is not None}
    for key, (low, high) in intervals.items():
        final |= {f"test/{key}_ci95_low": low, f"test/{key}_ci95_high": high}
    for name, values in classes.items():
        for key in ("precision", "recall", "f1", "roc_auc", "pr_auc"):
            if values[key] is not None:
                final[f"test_{key}/{name}"] = float(values[key])
    return final


def encoder_metrics(model_summary: dict[str, Any]) -> dict[str, float]:
    """The held-out perplexity of the encoder the model started from, if any."""
    perplexity = model_summary.get("encoder_val_perplexity")
    return {} if perplexity is None else {"pretrain/val_perplexity": float(perplexity)}


def log_run_figures(
    client: MlflowClient,
    run_id: str,
    all_params: dict[str, Any],
    model_summary: dict[str, Any],
    metrics: dict[str, Any],
    model_dir: Path,
) -> None:
    """Params not yet on `run_id` (flattened), then the test metrics, the encoder's, and,
    unless the trainer logged them live into this run, the history's per-epoch figures.
    Every metric carries the run's start time as its timestamp: MLflow keeps one row per
    (key, step, value, timestamp), so a rerun after a crash logs nothing twice."""
    run = client.get_run(run_id)
    logged = run.data.params  # a reused training run holds the train.* settings already
    log_params(client, run_id, {k: v for k, v in flatten(all_params).items() if k not in logged})
    stamp = run.info.start_time
    values = [Metric(k, v, stamp, 0) for k, v in final_metrics(metrics).items()]
    values += [Metric(k, v, stamp, 0) for k, v in encoder_metrics(model_summary).items()]
    if model_summary.get("mlflow_run_id") != run_id:  # else the trainer logged them
        history = json.loads((model_dir / "history.json").read_text(encoding="utf-8"))
        for record in history:
            step = int(record["epoch"])
            values += [
                Metric(metric_name(k), float(v), stamp, step)
                for k, v in record.items()
                if k != "epoch"
            ]
    client.log_batch(run_id, metrics=values)  # MLflow's client splits by its batch limit
