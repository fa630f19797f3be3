"""The classification loss and what turns logits into probabilities.

Binary tasks have one logit (BCEWithLogitsLoss), multi-class one per class
(CrossEntropyLoss), both with optional class weights and label smoothing.
Several labels a document (float documents x labels targets, 1 where a document
has the label) have one logit per label, each a BCEWithLogitsLoss, summed over the
labels and averaged over the documents, with an optional weight on each label's
positives (`pos_weight`) for rare labels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class ClassificationLoss(nn.Module):
    """Mean loss of logits against integer labels, for one logit or one per class.

    `class_weights` (one per label) weight each document by its true class and
    normalise by the summed weights, as CrossEntropyLoss does; label smoothing
    moves `smoothing` of the target mass evenly over all classes (for the
    single binary logit: targets eps/2 and 1 - eps/2).
    """

    class_weights: torch.Tensor | None

    def __init__(
        self,
        num_outputs: int,
        class_weights: torch.Tensor | None = None,
        smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.binary = num_outputs == 1
        self.smoothing = smoothing
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if labels.dim() == 2:  # several labels a document
            target = labels.float() * (1 - self.smoothing) + self.smoothing / 2
            losses = nn.functional.binary_cross_entropy_with_logits(
                logits, target, pos_weight=self.class_weights, reduction="none"
            )
            return losses.sum(1).mean()
        if not self.binary:
            return nn.functional.cross_entropy(
                logits, labels, weight=self.class_weights, label_smoothing=self.smoothing
            )
        target = labels.float() * (1 - self.smoothing) + self.smoothing / 2
        losses = nn.functional.binary_cross_entropy_with_logits(
            logits.squeeze(1), target, reduction="none"
        )
        if self.class_weights is None:
            return losses.mean()
        weights = self.class_weights[labels]
        return (losses * weights).sum() / weights.sum()


def balanced_class_weights(label_ids: np.ndarray, num_labels: int) -> torch.Tensor:
    """n / (k * count_c) per class over the k classes present (sklearn's 'balanced');
    absent classes get 0. Every class then carries the same total weight."""
    counts = np.bincount(label_ids[label_ids >= 0], minlength=num_labels).astype(np.float64)
    present = max(int((counts > 0).sum()), 1)
    weights = np.where(counts > 0, counts.sum() / (present * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def positive_weights(targets: np.ndarray) -> torch.Tensor:
    """Several labels a document: negatives / positives per label (BCEWithLogitsLoss's
    `pos_weight`), so that a label's positives weigh as much as its negatives; 1 for a
    label without positives."""
    positives = (targets > 0).sum(0).astype(np.float64)
    negatives = (targets == 0).sum(0).astype(np.float64)
    return torch.tensor(
        np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0), dtype=torch.float32
    )


def probabilities(logits: torch.Tensor, multi_label: bool = False) -> torch.Tensor:
    """Per-class probabilities: sigmoid for the single binary logit, softmax otherwise;
    with several labels a document, each label's own sigmoid."""
    if multi_label:
        return torch.sigmoid(logits.float())
    if logits.size(1) == 1:
        p = torch.sigmoid(logits.float())
        return torch.cat((1 - p, p), 1)
    return torch.softmax(logits.float(), 1)
