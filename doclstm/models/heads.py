"""The head: the summary vector to the model's logits.

`LogitHead` is a linear layer to `ModelConfig.num_outputs` logits: one for a binary
task (read with a sigmoid, trained with BCEWithLogitsLoss), one per class otherwise
(softmax, CrossEntropyLoss). Probabilities are computed at scoring, not here. A head
of another kind is a module of its own here, picked in `head_for`.
"""

from __future__ import annotations

from torch import nn

from doclstm.models.config import ModelConfig


class LogitHead(nn.Linear):
    """Linear logits: one for two labels, one per label from three."""


def head_for(config: ModelConfig, width: int) -> nn.Module:
    """The head a model of `config` puts on a summary of `width`."""
    return LogitHead(width, config.num_outputs)
