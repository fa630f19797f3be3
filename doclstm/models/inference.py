"""Batched forward passes over variable-length sequences, results in input order."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from doclstm.models.cuts import batch_lengths
from doclstm.models.loss import probabilities
from doclstm.models.model import SequenceClassifier
from doclstm.models.windowed import windowed_logits
from doclstm.text.batching import BucketBatchSampler, pad_batch


@torch.no_grad()
def predict_probabilities(
    model: SequenceClassifier,
    sequences: Sequence[np.ndarray],
    batch_tokens: int,
    device: torch.device | str = "cpu",
    max_batch_size: int = 512,
    window: int | None = None,
    precision: str = "fp32",
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Class probabilities (n_docs, n_labels), float32, in the order of `sequences`
    (several labels a document: each label's own, which need not sum to 1).

    With `window` (unidirectional models), sequences longer than it run in
    windows of that many tokens with the state carried (doclstm/models/windowed.py),
    in groups of similar length that fill `batch_tokens` per window. With
    `precision` bf16 the model runs under bf16 autocast (about twice fp32's
    speed on a CPU with AMX); the softmax runs in float32 either way, over the logits
    divided by the model's fitted `temperature` (doclstm/training/calibration.py). `on_batch` is
    told how many documents each batch finished (a progress bar).
    """
    was_training = model.training
    model.eval()
    out = np.zeros((len(sequences), max(model.config.num_labels, 2)), dtype=np.float32)
    multi = model.config.multi_label
    if multi:
        out = out[:, : model.config.num_labels]
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    short = np.arange(len(sequences)) if window is None else np.flatnonzero(lengths <= window)
    sampler = BucketBatchSampler(
        batch_lengths(lengths[short], model.config.rnn_tokens).tolist(),
        batch_tokens,
        max_batch_size,
        seed=0,
        shuffle=False,
    )
    for batch in sampler.batches() if len(short) else []:
        rows = short[batch]
        ids, lens = pad_batch([sequences[i] for i in rows])
        with _autocast(device, precision):
            logits = model(ids.to(device), lens)
        out[rows] = probabilities(logits.float() / model.temperature, multi).cpu().numpy()
        if on_batch is not None:
            on_batch(len(rows))
    if window is not None:
        long = np.flatnonzero(lengths > window)
        long = long[np.argsort(lengths[long], kind="stable")]
        group = max(1, min(max_batch_size, batch_tokens // window))
        for start in range(0, len(long), group):
            rows = long[start : start + group]
            with _autocast(device, precision):
                logits = windowed_logits(model, [sequences[i] for i in rows], window, device)
            out[rows] = probabilities(logits.float() / model.temperature, multi).cpu().numpy()
            if on_batch is not None:
                on_batch(len(rows))
    model.train(was_training)
    return out


def _autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision != "bf16":
        raise ValueError(f"inference precision must be fp32 or bf16, got {precision!r}")
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
