"""What `register` logs as a run's final metrics, named for MLflow's sections."""

from __future__ import annotations

from typing import Any


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar test metrics, named for MLflow's sections (`test/accuracy`,
    `test/accuracy_ci95_low`, `test_f1/<class>`); an AUC undefined on this split (None)
    is left out."""
    scalars = (
        "accuracy",
        "macro_f1",
        "log_loss",
        "roc_auc",
        "pr_auc",
        "expected_calibration_error",
    )
    final = {f"test/{k}": float(metrics[k]) for k in scalars if metrics[k] is not None}
    for key, (low, high) in metrics["intervals_95"].items():
        final |= {f"test/{key}_ci95_low": low, f"test/{key}_ci95_high": high}
    for name, values in metrics["per_class"].items():
        for key in ("precision", "recall", "f1", "roc_auc", "pr_auc"):
            if values[key] is not None:
                final[f"test_{key}/{name}"] = float(values[key])
    return final


def encoder_metrics(model_summary: dict[str, Any]) -> dict[str, float]:
    """The held-out perplexity of the encoder the model started from, if any."""
    perplexity = model_summary.get("encoder_val_perplexity")
    return {} if perplexity is None else {"pretrain/val_perplexity": float(perplexity)}
