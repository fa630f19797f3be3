"""ClassificationLoss against the textbook formulas, and balanced class weights."""

import numpy as np
import pytest
import torch
from torch.nn import functional

from doclstm.models.loss import ClassificationLoss, balanced_class_weights, positive_weights


def test_multiclass_matches_cross_entropy_with_weights_and_smoothing() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(7, 4), torch.tensor([0, 1, 2, 3, 3, 3, 1])
    weights = torch.tensor([1.0, 2.0, 0.5, 3.0])
    loss = ClassificationLoss(4, weights, smoothing=0.1)(logits, labels)
    expected = functional.cross_entropy(logits, labels, weight=weights, label_smoothing=0.1)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_logit_weights_documents_by_true_class(smoothing: float) -> None:
    logits, labels = torch.tensor([[2.0], [-1.0], [0.5]]), torch.tensor([1, 0, 0])
    weights = torch.tensor([3.0, 1.0])
    loss = ClassificationLoss(1, weights, smoothing)(logits, labels)
    target = labels.float() * (1 - smoothing) + smoothing / 2
    p = torch.sigmoid(logits.squeeze(1))
    per_doc = -(target * p.log() + (1 - target) * (1 - p).log())
    w = weights[labels]
    torch.testing.assert_close(loss, (per_doc * w).sum() / w.sum())
    # Smoothing pulls a confident right answer's loss up from nearly zero.
    sure = ClassificationLoss(1, None, smoothing)(torch.tensor([[20.0]]), torch.tensor([1]))
    assert (sure > 0.1) == (smoothing > 0)


def test_balanced_weights_equalise_class_mass() -> None:
    labels = np.array([0] * 90 + [1] * 10 + [-1] * 5)  # -1: unlabelled, ignored
    weights = balanced_class_weights(labels, 3)
    counts = np.array([90, 10, 0])
    np.testing.assert_allclose(weights.numpy()[:2] * counts[:2], [50, 50])
    assert weights[2] == 0


def test_several_labels_a_document_sum_each_labels_binary_loss() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    targets = (torch.rand(6, 4) > 0.6).float()
    expected = functional.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / 6
    assert float(ClassificationLoss(4)(logits, targets)) == pytest.approx(float(expected))
    weights = positive_weights(targets.numpy())
    positives, negatives = targets.sum(0), (1 - targets).sum(0)
    np.testing.assert_allclose(
        weights.numpy(), torch.where(positives > 0, negatives / positives.clamp_min(1), 1.0)
    )
    weighted = functional.binary_cross_entropy_with_logits(
        logits, targets, pos_weight=weights, reduction="sum"
    )
    assert float(ClassificationLoss(4, weights)(logits, targets)) == pytest.approx(
        float(weighted) / 6
    )
