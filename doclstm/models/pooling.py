"""How a sequence's step outputs become one vector: the pooling the head reads.

`last` is the encoder's summary state (the final hidden state at each sequence's true
last step); `mean`, `max` and `attention` pool over valid steps only (attention:
additive scores, softmax over the real tokens; pads get exactly zero weight); `concat`
is ULMFiT's concat pooling (Howard & Ruder 2018): [last, max, mean].
"""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("last", "mean", "max", "attention", "concat")


class Pooling(nn.Module):
    """One vector per sequence from (steps, last); only `attention` has weights."""

    def __init__(self, kind: str, width: int, hidden_size: int) -> None:
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"unknown pooling {kind!r}; one of {', '.join(POOLINGS)}")
        self.kind = kind
        self.width = width * (3 if kind == "concat" else 1)  # what it hands the head
        if kind == "attention":
            self.attention = nn.Sequential(
                nn.Linear(width, hidden_size), nn.Tanh(), nn.Linear(hidden_size, 1)
            )

    def forward(
        self, steps: torch.Tensor, last: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """(batch, self.width) from steps (batch, time, width), the summary state `last`
        (batch, width) and the true `lengths`; positions at or past a length never count."""
        if self.kind == "last":
            return last
        valid = (
            torch.arange(steps.size(1), device=steps.device)[None, :]
            < lengths.to(steps.device)[:, None]
        ).unsqueeze(-1)
        pooled = {}
        if self.kind in ("max", "concat"):
            pooled["max"] = steps.masked_fill(~valid, float("-inf")).amax(1)
        if self.kind in ("mean", "concat"):
            pooled["mean"] = (steps * valid).sum(1) / lengths.to(steps.device)[:, None]
        if self.kind == "attention":
            scores = self.attention(steps).masked_fill(~valid, float("-inf"))
            pooled["attention"] = (torch.softmax(scores, 1) * steps).sum(1)
        if self.kind == "concat":
            return torch.cat((last, pooled["max"], pooled["mean"]), 1)
        return pooled[self.kind]
