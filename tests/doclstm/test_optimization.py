"""Discriminative learning rates and gradual unfreezing (ULMFiT) through the schedule."""

from __future__ import annotations

import pytest
import torch

from doclstm.errors import DoclstmError
from doclstm.model import ModelConfig, SequenceClassifier
from doclstm.objectives import ClassifierObjective
from doclstm.optimization import Optimization, layer_groups
from doclstm.params import load_params

STEPS_PER_EPOCH = 3


def _classifier() -> SequenceClassifier:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=40, num_labels=3, embedding_dim=8, hidden_size=6, num_layers=2, pooling="max"
    )
    return SequenceClassifier(config)


def _optimization(model: SequenceClassifier, *overrides: str) -> Optimization:
    params = load_params(None, ["train.epochs=4", "train.warmup_fraction=0", *overrides]).train
    labels = torch.zeros(1, dtype=torch.long).numpy()
    objective = ClassifierObjective.build(3, ["a", "b", "c"], params, labels, torch.device("cpu"))
    return Optimization.build(model, model, params, objective, STEPS_PER_EPOCH, torch.device("cpu"))


def test_groups_run_from_the_head_down_to_the_embedding() -> None:
    model = _classifier()
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [sorted(names[id(p)] for p in g) for g in layer_groups(model)]
    assert groups[0] == ["head.bias", "head.weight"]
    assert all(n.endswith(("_l1", "_l1_reverse")) for n in groups[1]) and len(groups[1]) == 8
    assert all(n.endswith(("_l0", "_l0_reverse")) for n in groups[2]) and len(groups[2]) == 8
    assert groups[3] == ["embedding.weight"]
    assert sum(map(len, groups)) == len(names)


def test_gradual_unfreezing_and_decay_set_each_groups_rate_by_epoch() -> None:
    model = _classifier()
    opt = _optimization(model, "train.unfreeze=gradual", "train.layer_lr_decay=2.0")
    peak = opt.optimizer.param_groups[0]["initial_lr"]
    for step in range(4 * STEPS_PER_EPOCH):
        epoch = step // STEPS_PER_EPOCH + 1
        rates = [g["lr"] for g in opt.optimizer.param_groups]
        top = rates[0] / peak  # the schedule's factor at this step
        for depth, rate in enumerate(rates):
            expected = peak * top / 2.0**depth if depth < epoch else 0.0
            assert rate == pytest.approx(expected), (step, depth)
        opt.optimizer.step()  # no gradients: changes nothing, keeps the call order
        opt.scheduler.step()


def test_frozen_groups_do_not_move_in_the_first_epoch() -> None:
    model = _classifier()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = _optimization(model, "train.unfreeze=gradual")
    ids = torch.randint(2, 40, (4, 9))
    lengths = torch.tensor([9, 5, 3, 1])
    for _ in range(STEPS_PER_EPOCH):
        opt.step(ids, lengths, torch.tensor([0, 1, 2, 0]))
    for name, param in model.named_parameters():
        moved = not torch.equal(param, before[name])
        assert moved == name.startswith("head."), name


def test_gradual_unfreezing_needs_the_stepwise_schedule() -> None:
    with pytest.raises(DoclstmError, match="warmup_cosine"):
        _optimization(_classifier(), "train.unfreeze=gradual", "train.schedule=one_cycle")
