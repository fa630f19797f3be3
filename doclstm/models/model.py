"""`SequenceClassifier`: embedding -> LSTM/GRU -> pooling -> dropout -> linear head.

Variable-length batches run packed (`pack_padded_sequence(enforce_sorted=False)`),
so padding never reaches the recurrence and never changes a prediction. The
`last` summary is the final hidden state at each sequence's true last step:
`h_n[-1]` for one direction, `cat(h_n[-2], h_n[-1])` for two (the backward
half has then read the whole document back to its first token). Reading
`output[:, -1]` of a padded batch instead is wrong for every sequence shorter
than the batch. `mean`, `max` and `attention` pool over valid steps only
(attention: additive scores, softmax over the real tokens; pads get exactly
zero weight); `concat` is ULMFiT's concat pooling (Howard & Ruder 2018):
[last, max, mean].

Two exact paths compute the same function from the same weights (property
tests prove it): `packed`, and `padded` ("padded exact"), which runs each
layer and direction over right-padded batches: the forward direction is
causal, so its state at position length-1 has never seen a pad; the
backward direction runs on each sequence reversed within its own length,
so it too meets pads only after its last real step. On CPU the packed path
is slow in training: with mixed lengths, the backward pass of the packed
kernel zero-fills a copy of the whole packed input at every time step
(measured 13.9 s of a 15.5 s step, B=64, T=256; see BENCHMARKS.md).

Binary tasks have one logit (BCEWithLogitsLoss), multi-class one per class
(CrossEntropyLoss), both with optional class weights and label smoothing;
probabilities are computed at scoring, not here.

`kind="hierarchical"` follows RoBERT (Pappagari et al. 2019) with a
recurrent window encoder: each document is cut into overlapping windows of
`chunk_tokens` starting every `chunk_stride` tokens (`chunk_windows`), the
embedding + RNN + pooling above turns every window into one vector, and a
one-layer document RNN (same cell, width and directions) runs over each
document's window vectors, packed by window count, to the same final-state
summary as the flat `last` pooling; the head reads that. It takes the same
padded ids and lengths as the flat model, so the trainer, evaluation and
scoring need nothing else, and the padding-invariance tests cover it too.
`max_chunks` > 0 keeps a document's first `max_chunks` windows.

`bag_buckets` > 0 adds a second expert beside the RNN: a linear model over
the TF-IDF of the document's hashed word unigrams and bigrams
(doclstm/models/bag.py), fitted as a logistic regression (doclstm/training/bag_fit.py); the
logits are the two experts' weighted by `expert_weights` (a buffer, even
until training picks the RNN's share on val). With `rnn_tokens` > 0 a flat
model's RNN reads at most that many tokens of each document, half from its
head and half from its tail (`head_tail_cut`, the tokenizer's `head_tail`
truncation), while the bag reads all `tokenize.max_tokens`: the linear part
costs a few integer operations a token, the RNN most of the step.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from doclstm.errors import DoclstmError
from doclstm.models.bag import TokenBag
from doclstm.models.config import ModelConfig
from doclstm.models.cuts import chunk_windows, head_tail_cut
from doclstm.models.rnn_kernel import run_direction
from doclstm.models.window_encoder import DIM as MINILM_DIM
from doclstm.models.window_encoder import MiniLMWindows


class SequenceClassifier(nn.Module):
    expert_weights: torch.Tensor  # with a bag: the RNN's and the bag's shares of the logits

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        rnn_type = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.dropout = nn.Dropout(config.dropout)
        width = config.hidden_size * (2 if config.bidirectional else 1)
        summary_width = width * (3 if config.pooling == "concat" else 1)
        # The frozen MiniLM window encoder lives outside the module (no parameters here,
        # none saved); load_model_dir and the train stage attach it.
        self.window_encoder: MiniLMWindows | None = None
        if config.chunk_encoder == "minilm":
            summary_width = MINILM_DIM
        else:
            self.embedding, self.rnn = recurrent_encoder(config, between_layers=config.dropout)
            if config.pooling == "attention":
                self.attention = nn.Sequential(
                    nn.Linear(width, config.hidden_size),
                    nn.Tanh(),
                    nn.Linear(config.hidden_size, 1),
                )
        if config.kind == "hierarchical":
            self.doc_rnn = rnn_type(
                summary_width,
                config.hidden_size,
                batch_first=True,
                bidirectional=config.bidirectional,
            )
            summary_width = width
        self.head = nn.Linear(summary_width, config.num_outputs)
        self.bag = (
            TokenBag(config.vocab_size, config.bag_buckets, config.num_outputs)
            if config.bag_buckets
            else None
        )
        if self.bag is not None:  # the RNN's and the bag's shares (bag_fit.py picks them)
            self.register_buffer("expert_weights", torch.tensor([0.5, 0.5]))

    def forward(
        self,
        input_ids: torch.Tensor,
        lengths: torch.Tensor,
        path: str | None = None,
        experts: bool = False,
    ) -> torch.Tensor:
        """Logits (batch, outputs) for right-padded `input_ids` with true `lengths` (>= 1):
        the experts' (the RNN's, and the token bag's when there is one) summed with
        `expert_weights`. With `experts`, each expert's logits, stacked (experts, batch,
        outputs): training gives each that learns by gradient its own loss."""
        path = path or self.config.rnn_path
        if path == "auto":
            path = "packed" if input_ids.is_cuda else "padded"
        if path not in ("packed", "padded"):
            raise ValueError(f"unknown RNN path {path!r}")
        if self.config.kind == "hierarchical":
            recurrent = self._hierarchical(input_ids, lengths, path)
        else:
            ids, read = head_tail_cut(
                input_ids, lengths, self.config.rnn_tokens, self.config.pad_id
            )
            recurrent = self.head(self.dropout(self._summarize(ids, read, path)))
        return self.with_bag(recurrent, input_ids, lengths, experts)

    @property
    def gradient_experts(self) -> int:
        """How many experts, the RNN first, learn by gradient: the bag too unless fitted
        (doclstm/training/bag_fit.py freezes it)."""
        return 1 if self.bag is None or not self.bag.weights.weight.requires_grad else 2

    def with_bag(
        self,
        recurrent: torch.Tensor,
        input_ids: torch.Tensor,
        lengths: torch.Tensor,
        experts: bool = False,
    ) -> torch.Tensor:
        """The RNN's logits `recurrent` joined with the token bag's over the same batch
        (see forward); unchanged when there is no bag."""
        if self.bag is None:
            stacked = recurrent.unsqueeze(0)
        else:
            stacked = torch.stack((recurrent, self.bag(input_ids, lengths).to(recurrent.dtype)))
        return stacked if experts else self.combine(stacked)

    def combine(self, stacked: torch.Tensor) -> torch.Tensor:
        """The model's logits from its experts' (experts, batch, outputs), as
        `forward(..., experts=True)` gives them: summed with `expert_weights`."""
        if self.bag is None:
            return stacked[0]
        return torch.einsum("e,ebo->bo", self.expert_weights.to(stacked.dtype), stacked)

    def _hierarchical(
        self, input_ids: torch.Tensor, lengths: torch.Tensor, path: str
    ) -> torch.Tensor:
        c = self.config
        windows, window_lengths, counts = chunk_windows(
            input_ids, lengths, c.chunk_tokens, c.chunk_stride, c.max_chunks, c.pad_id
        )
        if c.chunk_encoder == "minilm":
            if self.window_encoder is None:
                raise DoclstmError("a MiniLM hierarchical model needs its window encoder attached")
            vectors = self.dropout(self.window_encoder.vectors(windows, window_lengths))
        else:
            vectors = self.dropout(self._summarize(windows, window_lengths, path))
        per_document = torch.split(vectors, counts.tolist())
        padded = nn.utils.rnn.pad_sequence(list(per_document), batch_first=True)
        packed = pack_padded_sequence(padded, counts, batch_first=True, enforce_sorted=False)
        _, hidden = self.doc_rnn(packed)
        h_n = hidden[0] if isinstance(hidden, tuple) else hidden
        last = torch.cat((h_n[-2], h_n[-1]), 1) if c.bidirectional else h_n[-1]
        return self.head(self.dropout(last))

    def _summarize(self, input_ids: torch.Tensor, lengths: torch.Tensor, path: str) -> torch.Tensor:
        """The pooled summary of each sequence (what the flat head reads)."""
        embedded = self.dropout(self.embedding(input_ids))
        if self.training and self.config.token_dropout > 0:
            # Whole tokens dropped (their vector zeroed), not single features: the model
            # cannot lean on a few keywords (word dropout, Iyyer et al. 2015).
            keep = torch.rand(input_ids.shape, device=input_ids.device) >= self.config.token_dropout
            embedded = embedded * (keep.unsqueeze(-1) / (1 - self.config.token_dropout))
        if path == "packed":
            steps, last = self._run_packed(embedded, lengths)
        else:
            steps, last = self._run_padded_exact(embedded, lengths.to(input_ids.device))
        pooling = self.config.pooling
        if pooling == "last":
            return last
        valid = (
            torch.arange(input_ids.size(1), device=steps.device)[None, :]
            < lengths.to(steps.device)[:, None]
        ).unsqueeze(-1)
        pooled = {}
        if pooling in ("max", "concat"):
            pooled["max"] = steps.masked_fill(~valid, float("-inf")).amax(1)
        if pooling in ("mean", "concat"):
            pooled["mean"] = (steps * valid).sum(1) / lengths.to(steps.device)[:, None]
        if pooling == "attention":
            scores = self.attention(steps).masked_fill(~valid, float("-inf"))
            pooled["attention"] = (torch.softmax(scores, 1) * steps).sum(1)
        return (
            torch.cat((last, pooled["max"], pooled["mean"]), 1)
            if pooling == "concat"
            else pooled[pooling]
        )

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
        reverse = _reverse_within_length(lengths, embedded.size(1))
        layer_input = embedded
        for layer in range(self.config.num_layers):
            if layer > 0:
                layer_input = nn.functional.dropout(layer_input, self.rnn.dropout, self.training)
            forward_out = self._one_direction(layer_input, layer, "")
            outputs = [forward_out]
            if self.config.bidirectional:
                backward_rev = self._one_direction(
                    _gather_steps(layer_input, reverse), layer, "_reverse"
                )
                outputs.append(_gather_steps(backward_rev, reverse))
            layer_input = torch.cat(outputs, 2)
        hidden = self.config.hidden_size
        # The forward state after the last real token; later pads cannot reach it.
        last = _gather_steps(forward_out, (lengths - 1)[:, None]).squeeze(1)
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


def recurrent_encoder(
    config: ModelConfig, between_layers: float
) -> tuple[nn.Embedding, nn.RNNBase]:
    """The embedding and the stacked RNN, named and shaped alike in the classifier and in
    the language model that pretrains them (doclstm/models/language_model.py)."""
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


def _reverse_within_length(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """Index (batch, total): position t maps to length-1-t inside the sequence, t after it."""
    steps = torch.arange(total, device=lengths.device)[None, :]
    lengths = lengths[:, None]
    return torch.where(steps < lengths, lengths - 1 - steps, steps)


def _gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[b, index[b, t], :] for every b, t."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(2)))
