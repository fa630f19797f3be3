"""The recurrent encoder: token embedding -> stacked LSTM/GRU, over right-padded batches.

`RecurrentEncoder` returns every valid step's output and the summary state of each
sequence: the final hidden state at its true last step, `h_n[-1]` for one direction
and `cat(h_n[-2], h_n[-1])` for two (the backward half has then read the whole
document back to its first token). Reading `output[:, -1]` of a padded batch instead
is wrong for every sequence shorter than the batch.

Two exact paths compute the same function from the same weights (property tests
prove it): `packed` (`pack_padded_sequence(enforce_sorted=False)`, so padding never
reaches the recurrence), and `padded` ("padded exact"), which runs each layer and
direction over right-padded batches: the forward direction is causal, so its state
at position length-1 has never seen a pad; the backward direction runs on each
sequence reversed within its own length, so it too meets pads only after its last
real step. On CPU the packed path is slow in training: with mixed lengths, the
backward pass of the packed kernel zero-fills a copy of the whole packed input at
every time step (measured 13.9 s of a 15.5 s step, B=64, T=256; see BENCHMARKS.md).

The embedding and the RNN are what the pretrain stage's language model trains
(doclstm/models/language_model.py builds them with `recurrent_layers`), so a
pretrained encoder file loads into `RecurrentEncoder` as it is.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from doclstm.models.config import ModelConfig
from doclstm.models.rnn_kernel import run_direction

PATHS = ("packed", "padded")


def recurrent_layers(config: ModelConfig, between_layers: float) -> tuple[nn.Embedding, nn.RNNBase]:
    """The embedding and the stacked RNN, named and shaped alike in the classifier and in
    the language model that pretrains them."""
    embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_id)
    rnn_type = nn.LSTM if config.cell == "lstm" else nn.GRU
    rnn = rnn_type(
        config.embedding_dim,
        config.hidden_size,
        num_layers=config.num_layers,
        batch_first=True,
        bidirectional=config.bidirectional,
        dropout=between_layers if config.num_layers > 1 else 0.0,
    )
    return embedding, rnn


class RecurrentEncoder(nn.Module):
    """Embedding (with dropout and whole-token dropout) and the RNN, over either path."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.dropout = nn.Dropout(config.dropout)
        self.embedding, self.rnn = recurrent_layers(config, between_layers=config.dropout)

    @property
    def width(self) -> int:
        """The width of each step's output and of the summary state."""
        return self.config.hidden_size * (2 if self.config.bidirectional else 1)

    def forward(
        self, input_ids: torch.Tensor, lengths: torch.Tensor, path: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(steps (batch, time, width), last (batch, width)) for right-padded `input_ids`
        with true `lengths` (>= 1), through the `packed` or `padded` path."""
        embedded = self.dropout(self.embedding(input_ids))
        token_dropout = self.config.token_dropout
        if self.training and token_dropout > 0:
            # Whole tokens dropped (their vector zeroed), not single features: the model
            # cannot lean on a few keywords (word dropout, Iyyer et al. 2015).
            keep = torch.rand(input_ids.shape, device=input_ids.device) >= token_dropout
            embedded = embedded * (keep.unsqueeze(-1) / (1 - token_dropout))
        if path == "packed":
            return self._run_packed(embedded, lengths)
        return self._run_padded_exact(embedded, lengths.to(input_ids.device))

    def _run_packed(
        self, embedded: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        packed = pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        output, hidden = self.rnn(packed)
        h_n = hidden[0] if isinstance(hidden, tuple) else hidden
        # h_n is (layers * directions, batch, hidden), already back in input order.
        last = torch.cat((h_n[-2], h_n[-1]), 1) if self.config.bidirectional else h_n[-1]
        steps, _ = pad_packed_sequence(output, batch_first=True, total_length=embedded.size(1))
        return steps, last

    def _run_padded_exact(
        self, embedded: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        reverse = reverse_within_length(lengths, embedded.size(1))
        layer_input = embedded
        for layer in range(self.config.num_layers):
            if layer > 0:
                layer_input = nn.functional.dropout(layer_input, self.rnn.dropout, self.training)
            forward_out = self._one_direction(layer_input, layer, "")
            outputs = [forward_out]
            if self.config.bidirectional:
                backward_rev = self._one_direction(
                    gather_steps(layer_input, reverse), layer, "_reverse"
                )
                outputs.append(gather_steps(backward_rev, reverse))
            layer_input = torch.cat(outputs, 2)
        hidden = self.config.hidden_size
        # The forward state after the last real token; later pads cannot reach it.
        last = gather_steps(forward_out, (lengths - 1)[:, None]).squeeze(1)
        if self.config.bidirectional:
            # The backward state after reading back to the first token sits at
            # reversed position length-1, i.e. original position 0 of its output.
            last = torch.cat((last, layer_input[:, 0, hidden:]), 1)
        return layer_input, last

    def _one_direction(self, x: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
        weights = [
            getattr(self.rnn, f"{name}_l{layer}{suffix}")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
        out, _ = run_direction(self.config.cell, x, weights, train=self.training)
        return out


def reverse_within_length(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """Index (batch, total): position t maps to length-1-t inside the sequence, t after it."""
    steps = torch.arange(total, device=lengths.device)[None, :]
    lengths = lengths[:, None]
    return torch.where(steps < lengths, lengths - 1 - steps, steps)


def gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[b, index[b, t], :] for every b, t."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(2)))
