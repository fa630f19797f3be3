"""Token dropout zeroes whole token vectors in training only."""

from __future__ import annotations

import dataclasses

import torch

from doclstm.models.config import ModelConfig
from doclstm.models.model import SequenceClassifier


def _models(rate: float) -> tuple[SequenceClassifier, SequenceClassifier]:
    config = ModelConfig.build(
        vocab_size=50, num_labels=3, embedding_dim=8, hidden_size=8, dropout=0.0, bag_buckets=0
    )
    torch.manual_seed(0)
    plain = SequenceClassifier(config)
    dropped = SequenceClassifier(dataclasses.replace(config, token_dropout=rate))
    dropped.load_state_dict(plain.state_dict())
    return plain, dropped


def test_token_dropout_changes_training_and_leaves_evaluation_alone() -> None:
    plain, dropped = _models(0.5)
    ids = torch.randint(2, 50, (4, 12))
    lengths = torch.tensor([12, 9, 5, 1])
    plain.eval()
    dropped.eval()
    assert torch.equal(plain(ids, lengths), dropped(ids, lengths))
    dropped.train()
    plain.train()
    assert not torch.allclose(plain(ids, lengths), dropped(ids, lengths))


def test_dropped_tokens_lose_their_whole_vector() -> None:
    _, dropped = _models(0.5)
    dropped.train()
    seen = []
    dropped.rnn.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    dropped(torch.randint(2, 50, (6, 20)), torch.full((6,), 20), path="packed")
    rows = seen[0].data  # the packed input: one row per real token
    zero = (rows == 0).all(1)
    assert 0.2 < zero.float().mean().item() < 0.8  # about half the tokens, whole rows
    assert ((rows == 0).sum(1)[~zero] == 0).all()  # the others keep every feature
