"""Score documents longer than the model's window exactly, in windows that carry state.

A unidirectional RNN reads a document left to right, so running it window
by window with the recurrent state carried across gives exactly the
full-sequence computation while only one window's activations exist at a
time. The pooled summary is carried the same way: the final state for
`last`, a running max, a running sum and count for `mean`, and an online
softmax (running maximum score, normaliser and weighted sum) for
`attention`. A bidirectional model's backward direction would need the end
of the document first, so it cannot be windowed; those documents are
truncated by the training policy instead (doclstm/scoring/predictor.py counts them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from doclstm.models.model import SequenceClassifier
from doclstm.text.batching import pad_batch


def can_window(model: SequenceClassifier) -> bool:
    """Only a flat unidirectional model that reads whole documents (no `rnn_tokens` cut)
    can carry its state from window to window."""
    c = model.config
    return c.kind == "flat" and not c.bidirectional and not c.rnn_tokens


@torch.no_grad()
def windowed_logits(
    model: SequenceClassifier,
    sequences: Sequence[np.ndarray],
    window: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Logits (len(sequences), outputs) of whole documents, `window` tokens at a time."""
    if not can_window(model):
        raise ValueError("a bidirectional model cannot be scored in windows")
    if window < 1:
        raise ValueError("window must be at least 1 token")
    was_training = model.training
    model.eval()
    try:
        return _windowed(model, sequences, window, device)
    finally:
        model.train(was_training)


def _windowed(
    model: SequenceClassifier,
    sequences: Sequence[np.ndarray],
    window: int,
    device: torch.device | str,
) -> torch.Tensor:
    config = model.config
    n = len(sequences)
    lengths = torch.tensor([len(s) for s in sequences])
    hidden = config.hidden_size
    state: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
    zeros = torch.zeros(config.num_layers, n, hidden, device=device)
    state = (zeros, zeros.clone()) if config.cell == "lstm" else zeros
    running_max = torch.full((n, hidden), float("-inf"), device=device)
    running_sum = torch.zeros(n, hidden, device=device)
    score_max = torch.full((n, 1), float("-inf"), device=device)
    normaliser = torch.zeros(n, 1, device=device)
    weighted = torch.zeros(n, hidden, device=device)
    for start in range(0, int(lengths.max()), window):
        alive = torch.nonzero(lengths > start).squeeze(1)
        chunks = [sequences[i][start : start + window] for i in alive.tolist()]
        ids, chunk_lengths = pad_batch(chunks)
        embedded = model.embedding(ids.to(device))
        packed = pack_padded_sequence(
            embedded, chunk_lengths, batch_first=True, enforce_sorted=False
        )
        alive_d = alive.to(device)
        carried = (
            (state[0][:, alive_d], state[1][:, alive_d])
            if isinstance(state, tuple)
            else state[:, alive_d]
        )
        output, new_state = model.rnn(packed, carried)
        if isinstance(state, tuple):
            state[0][:, alive_d] = new_state[0]
            state[1][:, alive_d] = new_state[1]
        else:
            state[:, alive_d] = new_state
        steps, _ = pad_packed_sequence(output, batch_first=True, total_length=ids.size(1))
        valid = (
            torch.arange(ids.size(1), device=device)[None, :] < chunk_lengths.to(device)[:, None]
        ).unsqueeze(-1)
        running_max[alive_d] = torch.maximum(
            running_max[alive_d], steps.masked_fill(~valid, float("-inf")).amax(1)
        )
        running_sum[alive_d] += (steps * valid).sum(1)
        if config.pooling == "attention":
            assert model.pooling is not None  # a flat model has its encoder's pooling
            scores = model.pooling.attention(steps).masked_fill(~valid, float("-inf"))
            new_max = torch.maximum(score_max[alive_d], scores.amax(1))
            rescale = torch.exp(score_max[alive_d] - new_max)
            exp_scores = torch.exp(scores - new_max[:, None, :])
            normaliser[alive_d] = normaliser[alive_d] * rescale + exp_scores.sum(1)
            weighted[alive_d] = weighted[alive_d] * rescale + (exp_scores * steps).sum(1)
            score_max[alive_d] = new_max
    last = (state[0] if isinstance(state, tuple) else state)[-1]
    mean = running_sum / lengths.to(device)[:, None]
    summary = {
        "last": last,
        "max": running_max,
        "mean": mean,
        "attention": weighted / normaliser,
        "concat": torch.cat((last, running_max, mean), 1),
    }[config.pooling]
    recurrent = model.head(model.dropout(summary))
    if model.bag is None:
        return recurrent
    # The bag reads whole documents at once: a few integers a token, no activations.
    ids, _ = pad_batch(list(sequences))
    return model.with_bag(recurrent, ids.to(device), lengths)
