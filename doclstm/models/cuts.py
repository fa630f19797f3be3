"""What part of a document each network reads: the head-and-tail cut of a flat model's
RNN (`rnn_tokens`) and the overlapping windows of a hierarchical model (RoBERT).

Both work on right-padded id batches and never let a pad into what they cut out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from doclstm.models.config import ModelConfig


def head_tail_cut(
    input_ids: torch.Tensor, lengths: torch.Tensor, keep: int, pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each right-padded row cut to its first (keep + 1) // 2 and last keep // 2 tokens when
    longer than `keep` (doclstm.text.tokenizer.truncate's `head_tail`), with the new lengths;
    `keep` 0 or no row that long: unchanged."""
    if keep <= 0 or int(lengths.max()) <= keep:
        return input_ids, lengths
    head = (keep + 1) // 2
    lengths = lengths.to(input_ids.device)
    position = torch.arange(keep, device=input_ids.device)[None, :]
    over = (lengths > keep)[:, None]
    # Past the head, a long row reads its tail: position j maps to length - keep + j.
    index = torch.where(over & (position >= head), lengths[:, None] - keep + position, position)
    read = lengths.clamp(max=keep)
    cut = input_ids.gather(1, index.clamp(max=input_ids.size(1) - 1))
    return cut.masked_fill(position >= read[:, None], pad_id), read.to("cpu")


def batch_lengths(lengths: np.ndarray, rnn_tokens: int) -> np.ndarray:
    """The lengths that size batches of documents: the tokens the RNN reads, which
    `rnn_tokens` cuts (the bag's few integers a token do not count)."""
    return np.minimum(lengths, rnn_tokens) if rnn_tokens else lengths


def window_counts(
    lengths: torch.Tensor, chunk: int, stride: int, max_chunks: int = 0
) -> torch.Tensor:
    """Windows per document: one up to `chunk` tokens, then one more per `stride` begun."""
    extra = torch.div((lengths - chunk).clamp(min=0) + stride - 1, stride, rounding_mode="floor")
    counts = 1 + extra
    return counts.clamp(max=max_chunks) if max_chunks > 0 else counts


def documents_over_max_chunks(config: ModelConfig, lengths: np.ndarray) -> int:
    """How many documents a hierarchical model reads only in part (more windows than
    `max_chunks`); 0 for a flat model or no limit."""
    if config.kind != "hierarchical" or config.max_chunks == 0:
        return 0
    counts = window_counts(torch.as_tensor(lengths), config.chunk_tokens, config.chunk_stride)
    return int((counts > config.max_chunks).sum())


def chunk_windows(
    input_ids: torch.Tensor,
    lengths: torch.Tensor,
    chunk: int,
    stride: int,
    max_chunks: int = 0,
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every document's windows, in document order: ids (windows, <= chunk), their lengths
    (CPU), and the window count of each document (CPU). Window k of a document covers
    tokens [k * stride, k * stride + chunk) of its real tokens; pads never enter one."""
    lengths = lengths.cpu()
    counts = window_counts(lengths, chunk, stride, max_chunks)
    document = torch.repeat_interleave(torch.arange(len(counts)), counts)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    starts = (torch.arange(int(counts.sum())) - first) * stride
    window_lengths = (lengths[document] - starts).clamp(max=chunk)
    width = int(window_lengths.max())
    offsets = torch.arange(width)
    positions = (starts[:, None] + offsets[None, :]).clamp(max=input_ids.size(1) - 1)
    valid = offsets[None, :] < window_lengths[:, None]
    device = input_ids.device
    windows = input_ids[document.to(device)[:, None], positions.to(device)]
    return windows.masked_fill(~valid.to(device), pad_id), window_lengths, counts
