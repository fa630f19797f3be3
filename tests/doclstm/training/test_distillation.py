"""The distillation loss: zero when the student's logits are the teacher's, gold labels
weighted by `train.distill.weight`, the teacher alone for documents without a label; and
the batches of a transfer set carry the teacher's logits to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from doclstm.config.params import load_params
from doclstm.models.config import ModelConfig
from doclstm.models.model import SequenceClassifier
from doclstm.storage.token_data import TokenSplit, concat_splits, offsets_of
from doclstm.text.batching import BucketBatchSampler, batch_loader
from doclstm.training.objectives import ClassifierObjective, distillation_losses


def _objective(outputs: int, *settings: str) -> ClassifierObjective:
    params = load_params(None, list(settings)).train
    names = [str(i) for i in range(max(outputs, 2))]
    return ClassifierObjective.build(
        outputs, names, params, np.zeros(4, np.int64), torch.device("cpu")
    )


@pytest.mark.parametrize("kind", ["mse", "kl"])
@pytest.mark.parametrize("outputs", [1, 4])
def test_the_distillation_loss_is_zero_only_at_the_teachers_logits(kind: str, outputs: int) -> None:
    teacher = torch.randn(16, outputs) * 3
    same = distillation_losses(teacher, teacher, kind, 2.0)
    assert torch.allclose(same, torch.zeros(16), atol=1e-6)
    other = distillation_losses(teacher + torch.randn(16, outputs), teacher, kind, 2.0)
    assert bool((other > 0).all())


def test_several_labels_a_document_distil_each_labels_own_probability() -> None:
    """The labels' binary KLs at the temperature, summed; a row of -1 (no gold labels)
    learns from the teacher alone, a labelled one also from its labels' BCE."""
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 4), torch.randn(5, 4) * 2
    t = 2.0
    found = distillation_losses(student, teacher, "kl", t, multi_label=True)
    p, q = torch.sigmoid(teacher / t), torch.sigmoid(student / t)
    by_hand = (p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).sum(1) * t * t
    assert torch.allclose(found, by_hand, atol=1e-5)
    assert torch.allclose(
        distillation_losses(teacher, teacher, "kl", t, multi_label=True), torch.zeros(5), atol=1e-6
    )
    # not the softmax KL of the same logits
    assert not torch.allclose(found, distillation_losses(student, teacher, "kl", t), atol=1e-3)

    objective = _objective(4, "train.distill.weight=0.4", "train.distill.loss=kl")
    labels = torch.tensor([[1, 0, 0, 1], [-1, -1, -1, -1], [0, 1, 0, 0], [-1] * 4, [0, 0, 1, 0]])
    labels = labels.float()
    loss = objective.distilled(student, labels, teacher)
    soft = distillation_losses(student, teacher, "kl", objective.distill.temperature, True)
    gold = [0, 2, 4]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        student[gold], labels[gold], reduction="none"
    ).sum(1)
    expected = (soft[[1, 3]].sum() + 0.6 * soft[gold].sum() + 0.4 * bce.sum()) / 5
    assert torch.isclose(loss, expected, atol=1e-5)


def test_a_document_without_a_label_learns_from_the_teacher_alone() -> None:
    objective = _objective(3, "train.distill.weight=0.7")
    student = torch.randn(4, 3)
    teacher = torch.randn(4, 3)
    unlabelled = torch.full((4,), -1)
    loss = objective.distilled(student, unlabelled, teacher)
    assert torch.isclose(loss, distillation_losses(student, teacher, "mse", 1.0).mean())
    # With labels: weight x cross-entropy + (1 - weight) x the distillation loss.
    labels = torch.tensor([0, 1, 2, 0])
    mixed = objective.distilled(student, labels, teacher)
    ce = torch.nn.functional.cross_entropy(student, labels)
    soft = distillation_losses(student, teacher, "mse", 1.0).mean()
    assert torch.isclose(mixed, 0.7 * ce + 0.3 * soft, atol=1e-6)
    # weight 1: the gold labels alone for labelled documents
    gold = _objective(3, "train.distill.weight=1").distilled(student, labels, teacher)
    assert torch.isclose(gold, ce, atol=1e-6)


def test_a_transfer_sets_batches_carry_the_teachers_logits_to_the_loss() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 9, size=24)
    logits = rng.normal(size=(24, 3)).astype(np.float32)
    split = TokenSplit(
        [f"d{i}" for i in range(24)],
        np.where(np.arange(24) < 12, rng.integers(0, 3, 24), -1),
        rng.integers(1, 30, size=int(lengths.sum())).astype(np.int32),
        offsets_of(lengths),
        logits,
    )
    assert concat_splits([split, split]).teacher_logits.shape == (48, 3)  # type: ignore[union-attr]
    assert split.subset(np.array([3, 1])).teacher_logits.tolist() == logits[[3, 1]].tolist()  # type: ignore[union-attr]
    sampler = BucketBatchSampler(lengths.tolist(), 64, 8, 0)
    seen = 0
    for ids, lens, labels, targets in batch_loader(split, sampler, 0, torch.device("cpu"), 0):
        assert targets.shape == (len(labels), 3)
        for row, length in enumerate(lens.tolist()):
            match = [i for i in range(24) if np.array_equal(split.sequence(i), ids[row, :length])]
            assert any(np.allclose(logits[i], targets[row]) for i in match)
        seen += len(labels)
    assert seen == 24
    # The student's loss over such a batch moves it toward the teacher.
    torch.manual_seed(0)
    model = SequenceClassifier(
        ModelConfig.build(30, 3, embedding_dim=8, hidden_size=8, bag_buckets=0, dropout=0.0)
    )
    objective = _objective(3, "train.distill.weight=0")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    ids, lens, labels, targets = next(iter(batch_loader(split, sampler, 0, torch.device("cpu"), 0)))
    with torch.no_grad():
        before = float(distillation_losses(model(ids, lens), targets, "mse", 1.0).mean())
    for _ in range(40):
        optimizer.zero_grad()
        loss = objective.distilled(model(ids, lens), labels, targets)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(distillation_losses(model(ids, lens), targets, "mse", 1.0).mean())
    assert after < before / 4


def test_the_training_step_distils_when_the_batch_has_teacher_logits() -> None:
    import contextlib

    torch.manual_seed(0)
    model = SequenceClassifier(
        ModelConfig.build(30, 3, embedding_dim=8, hidden_size=8, bag_buckets=0, dropout=0.0)
    )
    ids = torch.randint(1, 30, (4, 6))
    lengths = torch.tensor([6, 5, 3, 2])
    labels = torch.tensor([0, -1, 2, -1])
    teacher = torch.randn(4, 3)
    objective = _objective(3, "train.distill.weight=0.3")
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    loss = objective.backward(model, ids, lengths, labels, contextlib.nullcontext, scaler, teacher)
    assert torch.isclose(loss, objective.distilled(model(ids, lengths), labels, teacher))
    plain = objective.backward(
        model, ids, lengths, torch.tensor([0, 1, 2, 1]), contextlib.nullcontext, scaler, None
    )
    assert torch.isclose(
        plain, objective.criterion(model(ids, lengths), torch.tensor([0, 1, 2, 1]))
    )
