"""The document-level recurrence of hierarchical models (RoBERT, Pappagari et al. 2019).

Each document is cut into overlapping windows (doclstm/models/cuts.chunk_windows), each
window becomes one vector (the recurrent encoder and pooling, or frozen MiniLM), and
`WindowRecurrence` runs a one-layer RNN of the model's cell, width and directions over
each document's window vectors, packed by window count, to the same final-state summary
as the flat `last` pooling. The teacher's window reader (doclstm/models/teacher_model.py)
runs one over its fine-tuned MiniLM's window vectors.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from doclstm.models.config import ModelConfig


class WindowRecurrence(nn.Module):
    def __init__(
        self, window_width: int, hidden_size: int, cell: str = "lstm", bidirectional: bool = True
    ) -> None:
        super().__init__()
        rnn_type = nn.LSTM if cell == "lstm" else nn.GRU
        self.bidirectional = bidirectional
        self.rnn = rnn_type(
            window_width, hidden_size, batch_first=True, bidirectional=bidirectional
        )
        self.width = hidden_size * (2 if bidirectional else 1)

    @classmethod
    def of_model(cls, config: ModelConfig, window_width: int) -> WindowRecurrence:
        """The recurrence of a hierarchical model: its cell, width and directions."""
        return cls(window_width, config.hidden_size, config.cell, config.bidirectional)

    def forward(self, vectors: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """(documents, width) from the window vectors of every document in order,
        `counts[d]` of them for document d."""
        per_document = torch.split(vectors, counts.tolist())
        padded = nn.utils.rnn.pad_sequence(list(per_document), batch_first=True)
        packed = pack_padded_sequence(padded, counts, batch_first=True, enforce_sorted=False)
        _, hidden = self.rnn(packed)
        h_n = hidden[0] if isinstance(hidden, tuple) else hidden
        return torch.cat((h_n[-2], h_n[-1]), 1) if self.bidirectional else h_n[-1]
