"""Language-model pretraining of a classifier's encoder (embedding + recurrent stack).

`EncoderLanguageModel` holds exactly the classifier's `embedding.*` and
`rnn.*` parameters, with the classifier's names and shapes, plus a small
output layer: a projection from the hidden state to the embedding width
and a bias, the output word vectors being the input embedding itself
(tied; Press & Wolf 2017, Inan et al. 2017). The forward direction of the
recurrent stack is trained to predict each next token; in a bidirectional
model the backward direction, run over each document reversed, predicts
each previous token (ELMo's two language models, one set of weights each).

A stacked bidirectional classifier feeds layer l both directions of layer
l-1. A language model cannot: the forward model would see the future. So
each direction's language model reads only its own direction's half of
the next layer's input weights; `encoder_state` zeroes the other half, so
a classifier started from it computes, in each direction, exactly the
pretrained encoder, and learns the cross-direction weights from zero.

Documents are read in segments of `bptt` tokens with the recurrent state
carried from one segment to the next and detached (truncated
backpropagation through time): memory grows with the segment, not the
document. The output layer is a full softmax, or a sampled softmax over
`samples` words drawn from the unigram distribution to the power 0.75 with
the usual log-probability correction (Jean et al. 2015), so a large
vocabulary stays fast; perplexity is always measured with the full softmax.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from doclstm.models.config import ModelConfig
from doclstm.models.recurrent_encoder import recurrent_layers, reverse_within_length
from doclstm.models.rnn_kernel import run_direction

State = list[tuple[torch.Tensor, ...]]  # per layer: (h, c) for an LSTM, (h,) for a GRU
ENCODER_PREFIXES = ("embedding.", "rnn.")


class EncoderLanguageModel(nn.Module):
    sampling: torch.Tensor  # negative-sampling distribution over the vocabulary

    def __init__(
        self, config: ModelConfig, unigram_counts: np.ndarray | None = None, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.config = config
        # The classifier's own modules, so names and shapes are the classifier's. The LM has
        # a dropout of its own (on the embeddings, between layers, before the output), not
        # the classifier's: it reads far more text per weight than the classifier does.
        self.embedding, self.rnn = recurrent_layers(config, between_layers=0.0)
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(config.hidden_size, config.embedding_dim)
        self.output_bias = nn.Parameter(torch.zeros(config.vocab_size))
        counts = np.ones(config.vocab_size) if unigram_counts is None else unigram_counts
        # Add-one: a word the counts never saw can still be drawn, and its log q is finite.
        weights = torch.as_tensor((np.asarray(counts, dtype=np.float64) + 1) ** 0.75).float()
        weights[config.pad_id] = 0.0
        self.register_buffer("sampling", weights / weights.sum(), persistent=False)

    @property
    def directions(self) -> list[str]:
        return ["", "_reverse"] if self.config.bidirectional else [""]

    def streams(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(directions, batch, time): the batch as read by each direction's model (the
        backward one reads every document reversed within its length)."""
        if not self.config.bidirectional:
            return ids[None]
        reverse = reverse_within_length(lengths.to(ids.device), ids.size(1))
        return torch.stack((ids, ids.gather(1, reverse)))

    def forward(
        self,
        streams: torch.Tensor,
        lengths: torch.Tensor,
        start: int,
        bptt: int,
        state: State | None = None,
        samples: int = 0,
    ) -> tuple[torch.Tensor, int, State]:
        """Summed loss of every direction over the segment of `bptt` steps from `start`
        (its tokens and one more, the last step's target), the number of tokens predicted
        (from the CPU `lengths`, no device sync), and the state to carry into the next
        segment. `samples` 0: full softmax."""
        window = streams[:, :, start : start + bptt + 1]
        remaining = lengths.cpu() - start
        tokens = len(self.directions) * int((remaining - 1).clamp(0, window.size(2) - 1).sum())
        remaining = remaining.to(streams.device)
        total = streams.new_zeros((), dtype=torch.float32)
        carried: State = []
        for d, suffix in enumerate(self.directions):
            own = None if state is None else state[d * self.config.num_layers :]
            nll, after = self._direction(window[d], remaining, suffix, own, samples)
            total = total + nll
            carried.extend(after)
        return total, tokens, carried

    def _direction(
        self,
        window: torch.Tensor,
        remaining: torch.Tensor,
        suffix: str,
        state: State | None,
        samples: int,
    ) -> tuple[torch.Tensor, State]:
        """Summed next-token loss of one direction over `window` (segment + 1 target)."""
        inputs, targets = window[:, :-1], window[:, 1:]
        # Position t predicts token t+1, which exists while t + 1 < remaining length.
        steps = torch.arange(inputs.size(1), device=window.device)[None, :]
        valid = steps + 1 < remaining[:, None]
        x = self.dropout(self.embedding(inputs))
        hidden = self.config.hidden_size
        after: State = []
        for layer in range(self.config.num_layers):
            if layer > 0:
                x = self.dropout(x)
            weight_ih = getattr(self.rnn, f"weight_ih_l{layer}{suffix}")
            if layer > 0 and self.config.bidirectional:  # this direction's half only
                half = slice(0, hidden) if suffix == "" else slice(hidden, 2 * hidden)
                weight_ih = weight_ih[:, half]
            weights = [
                weight_ih,
                getattr(self.rnn, f"weight_hh_l{layer}{suffix}"),
                getattr(self.rnn, f"bias_ih_l{layer}{suffix}"),
                getattr(self.rnn, f"bias_hh_l{layer}{suffix}"),
            ]
            initial = None if state is None else state[layer]
            x, layer_state = run_direction(self.config.cell, x, weights, initial, self.training)
            after.append(tuple(s.detach() for s in layer_state))
        x = self.dropout(x)
        chosen = self.project(x[valid])
        gold = targets[valid]
        sampled = samples and self.training
        nll = self._sampled_nll(chosen, gold, samples) if sampled else self._full_nll(chosen, gold)
        return nll, after

    def _full_nll(self, chosen: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        total = chosen.new_zeros((), dtype=torch.float32)
        for i in range(0, len(gold), 4096):  # bounded logits memory
            logits = chosen[i : i + 4096] @ self.embedding.weight.T + self.output_bias
            total = total + nn.functional.cross_entropy(
                logits.float(), gold[i : i + 4096], reduction="sum"
            )
        return total

    def _sampled_nll(self, chosen: torch.Tensor, gold: torch.Tensor, samples: int) -> torch.Tensor:
        negatives = torch.multinomial(self.sampling, samples, replacement=True)
        log_q = torch.log(self.sampling * samples)
        true_logit = (chosen * self.embedding.weight[gold]).sum(1) + self.output_bias[gold]
        sampled = chosen @ self.embedding.weight[negatives].T + self.output_bias[negatives]
        sampled = sampled - log_q[negatives][None, :]
        sampled = sampled.masked_fill(negatives[None, :] == gold[:, None], -math.inf)
        logits = torch.cat((true_logit[:, None] - log_q[gold][:, None], sampled), 1)
        return nn.functional.cross_entropy(
            logits.float(), gold.new_zeros(len(gold)), reduction="sum"
        )

    def encoder_state(self) -> dict[str, torch.Tensor]:
        """The classifier-named encoder weights, cross-direction input halves zeroed."""
        state = {
            k: v.detach().clone()
            for k, v in self.state_dict().items()
            if k.startswith(ENCODER_PREFIXES)
        }
        if self.config.bidirectional:
            hidden = self.config.hidden_size
            for layer in range(1, self.config.num_layers):
                state[f"rnn.weight_ih_l{layer}"][:, hidden:] = 0
                state[f"rnn.weight_ih_l{layer}_reverse"][:, :hidden] = 0
        return state


def segment_starts(lengths: torch.Tensor, bptt: int) -> list[int]:
    """Where each `bptt`-token segment of a batch starts; each predicts up to `bptt` tokens."""
    return list(range(0, max(int(lengths.max()) - 1, 0), bptt))


def predicted_tokens(lengths: torch.Tensor, directions: int) -> int:
    """Tokens a batch predicts: all but the first of each document, in each direction."""
    return directions * int((lengths - 1).clamp(min=0).sum())
