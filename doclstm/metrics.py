"""Classification metrics from labels and probabilities (scikit-learn's definitions)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)


def classification_metrics(
    label_ids: np.ndarray, probs: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1, log loss, per-class precision/recall/F1 and the confusion matrix."""
    predicted = probs.argmax(1)
    classes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        label_ids, predicted, labels=classes, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(label_ids, predicted)),
        "macro_f1": float(
            f1_score(label_ids, predicted, labels=classes, average="macro", zero_division=0)
        ),
        "log_loss": float(log_loss(label_ids, np.clip(probs, 1e-7, 1), labels=classes)),
        "documents": len(label_ids),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(label_ids, predicted, labels=classes).tolist(),
    }


def accuracy_by_length(
    label_ids: np.ndarray, probs: np.ndarray, lengths: np.ndarray, buckets: int = 4
) -> list[dict[str, Any]]:
    """Accuracy in length quantile buckets (tokens as stored, after truncation)."""
    edges = np.unique(np.quantile(lengths, np.linspace(0, 1, buckets + 1)).astype(np.int64))
    if len(edges) == 1:  # every document has the same length (e.g. all truncated)
        edges = np.repeat(edges, 2)
    correct = probs.argmax(1) == label_ids
    rows = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        mask = (lengths >= lo) & ((lengths <= hi) if last else (lengths < hi))
        if mask.any():
            rows.append(
                {
                    "min_tokens": int(lo),
                    "max_tokens": int(hi),
                    "documents": int(mask.sum()),
                    "accuracy": float(correct[mask].mean()),
                }
            )
    return rows
