"""Classification metrics from labels and probabilities (scikit-learn's definitions).

`classification_metrics` is what evaluate writes to `metrics.json`: point
metrics, ranking metrics (ROC-AUC, PR-AUC; one-vs-rest for multi-class),
calibration (expected calibration error, and its floor: what a perfectly
calibrated model would show on as many documents) and 95% bootstrap intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

BOOTSTRAP_SAMPLES = 1_000
CALIBRATION_BINS = 15


def classification_metrics(
    label_ids: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    seed: int = 0,
    bootstrap_samples: int = BOOTSTRAP_SAMPLES,
) -> dict[str, Any]:
    """Everything `metrics.json` holds except the length buckets."""
    predicted = probs.argmax(1)
    classes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        label_ids, predicted, labels=classes, zero_division=0
    )
    roc, pr = one_vs_rest_auc(label_ids, probs)
    reliability = calibration(label_ids, probs)
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "roc_auc": roc[i],
            "pr_auc": pr[i],
        }
        for i, name in enumerate(labels)
    }
    return {
        "accuracy": float(accuracy_score(label_ids, predicted)),
        "macro_f1": macro_f1(label_ids, predicted, len(labels)),
        "roc_auc": _binary_or_macro(roc, len(labels)),
        "pr_auc": _binary_or_macro(pr, len(labels)),
        "log_loss": float(log_loss(label_ids, np.clip(probs, 1e-7, 1), labels=classes)),
        "expected_calibration_error": reliability["ece"],
        "expected_calibration_error_floor": calibration_floor(probs, seed=seed),
        "documents": len(label_ids),
        "intervals_95": bootstrap_intervals(
            label_ids, predicted, len(labels), seed, bootstrap_samples
        ),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(label_ids, predicted, labels=classes).tolist(),
        "calibration_bins": reliability["bins"],
    }


def macro_f1(label_ids: np.ndarray, predicted: np.ndarray, n_labels: int) -> float:
    return float(
        f1_score(
            label_ids, predicted, labels=list(range(n_labels)), average="macro", zero_division=0
        )
    )


def one_vs_rest_auc(
    label_ids: np.ndarray, probs: np.ndarray
) -> tuple[list[float | None], list[float | None]]:
    """ROC-AUC and PR-AUC (average precision) of each class against the rest; None for a
    class absent from (or alone in) the labels, where the curve is undefined."""
    roc: list[float | None] = []
    pr: list[float | None] = []
    for i in range(probs.shape[1]):
        positive = label_ids == i
        if positive.all() or not positive.any():
            roc.append(None)
            pr.append(None)
            continue
        roc.append(float(roc_auc_score(positive, probs[:, i])))
        pr.append(float(average_precision_score(positive, probs[:, i])))
    return roc, pr


def _binary_or_macro(values: list[float | None], n_labels: int) -> float | None:
    """Binary: the positive class's value (label 1); multi-class: mean over defined classes."""
    if n_labels == 2:
        return values[1]
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def calibration(
    label_ids: np.ndarray, probs: np.ndarray, bins: int = CALIBRATION_BINS
) -> dict[str, Any]:
    """Top-label reliability: per equal-width confidence bin, the mean confidence, the
    accuracy and the count; `ece` is their count-weighted mean absolute gap."""
    return reliability(probs.max(1), probs.argmax(1) == label_ids, bins)


def reliability(confidence: np.ndarray, outcome: np.ndarray, bins: int) -> dict[str, Any]:
    """Per equal-width bin of `confidence`, its mean, the share of `outcome` that came
    true and the count (`documents`); `ece`: their count-weighted mean absolute gap."""
    index = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    rows = []
    gap = 0.0
    for b in range(bins):
        mask = index == b
        if not mask.any():
            continue
        conf, acc = float(confidence[mask].mean()), float(outcome[mask].mean())
        rows.append({"bin": b, "confidence": conf, "accuracy": acc, "documents": int(mask.sum())})
        gap += mask.sum() * abs(conf - acc)
    return {"ece": float(gap / max(len(outcome), 1)), "bins": rows}


def calibration_floor(
    probs: np.ndarray, bins: int = CALIBRATION_BINS, seed: int = 0, samples: int = 200
) -> float:
    """The mean ECE of a perfectly calibrated model with these probabilities: labels drawn
    from `probs` themselves, `samples` times. On a few hundred documents the binned ECE
    is biased upward by sampling noise alone; this is that part, which no calibration
    removes (read an ECE against it)."""
    if not len(probs):
        return 0.0
    rng = np.random.default_rng(seed)
    cumulative = probs.cumsum(1)
    last = probs.shape[1] - 1
    drawn = [
        np.minimum((rng.random(len(probs))[:, None] > cumulative).sum(1), last)
        for _ in range(samples)
    ]
    return float(np.mean([calibration(labels, probs, bins)["ece"] for labels in drawn]))


def bootstrap_intervals(
    label_ids: np.ndarray,
    predicted: np.ndarray,
    n_labels: int,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
) -> dict[str, list[float]]:
    """95% percentile-bootstrap intervals of accuracy and macro-F1 (documents resampled
    with replacement, `samples` times, seeded so the report is reproducible)."""
    rng = np.random.default_rng(seed)
    n = len(label_ids)
    accuracy = np.empty(samples)
    f1 = np.empty(samples)
    for s in range(samples):
        pick = rng.integers(0, n, n)
        y, p = label_ids[pick], predicted[pick]
        accuracy[s] = (y == p).mean()
        f1[s] = _fast_macro_f1(y, p, n_labels)
    return {
        "accuracy": [float(np.quantile(accuracy, 0.025)), float(np.quantile(accuracy, 0.975))],
        "macro_f1": [float(np.quantile(f1, 0.025)), float(np.quantile(f1, 0.975))],
    }


def _fast_macro_f1(y: np.ndarray, p: np.ndarray, n_labels: int) -> float:
    """Macro-F1 as scikit-learn computes it with zero_division=0, from one bincount."""
    counts = np.bincount(y * n_labels + p, minlength=n_labels * n_labels).reshape(
        n_labels, n_labels
    )
    tp = np.diag(counts).astype(np.float64)
    denom = counts.sum(0) + counts.sum(1)  # 2tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros(n_labels), where=denom > 0)
    return float(f1.mean())


def accuracy_by_length(
    label_ids: np.ndarray, probs: np.ndarray, lengths: np.ndarray, buckets: int = 4
) -> list[dict[str, Any]]:
    """Accuracy in length quantile buckets. Pass the lengths before tokenize's cut, so a
    long document shows as long however much of it the model read. A bucket holds
    lengths in [min_tokens, max_tokens), the last one its max_tokens too."""
    frame = pl.DataFrame(
        {"length": np.asarray(lengths, np.int64), "correct": probs.argmax(1) == label_ids}
    )
    quantiles = np.linspace(0, 1, buckets + 1)
    cuts = frame.select(pl.col("length").quantile(q, "linear").alias(str(q)) for q in quantiles)
    edges = sorted({int(v) for v in cuts.row(0)})
    if len(edges) == 1:  # every document has the same length
        edges *= 2
    inner = [float(e) for e in edges[1:-1]]
    names = [str(i) for i in range(len(edges) - 1)]
    counted = (
        frame.group_by(pl.col("length").cut(inner, labels=names, left_closed=True).alias("bucket"))
        .agg(pl.len().alias("documents"), pl.col("correct").mean().alias("accuracy"))
        .with_columns(pl.col("bucket").cast(pl.String).cast(pl.Int64))
        .sort("bucket")
    )
    return [
        {
            "min_tokens": edges[i],
            "max_tokens": edges[i + 1],
            "documents": int(documents),
            "accuracy": float(accuracy),
        }
        for i, documents, accuracy in counted.iter_rows()
    ]
