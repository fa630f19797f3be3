"""Batched forward passes over variable-length sequences, results in input order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from doclstm.batching import BucketBatchSampler, pad_batch
from doclstm.model import SequenceClassifier, probabilities


@torch.no_grad()
def predict_probabilities(
    model: SequenceClassifier,
    sequences: Sequence[np.ndarray],
    batch_tokens: int,
    device: torch.device | str = "cpu",
    max_batch_size: int = 512,
) -> np.ndarray:
    """Class probabilities (n_docs, n_labels), float32, in the order of `sequences`."""
    was_training = model.training
    model.eval()
    out = np.zeros((len(sequences), max(model.config.num_labels, 2)), dtype=np.float32)
    lengths = [len(s) for s in sequences]
    sampler = BucketBatchSampler(lengths, batch_tokens, max_batch_size, seed=0, shuffle=False)
    for batch in sampler.batches():
        ids, lens = pad_batch([sequences[i] for i in batch])
        logits = model(ids.to(device), lens)
        out[batch] = probabilities(logits).cpu().numpy()
    model.train(was_training)
    return out
