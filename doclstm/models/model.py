"""`SequenceClassifier`: the classifier, composed from parts by `SequenceClassifier(config)`.

    encoder (doclstm/models/recurrent_encoder.py): embedding -> LSTM/GRU, packed or
            padded-exact, to every step's output and the final state
    pooling (pooling.py): last state, mean, max, attention or concat over valid steps
    windows (window_recurrence.py, hierarchical models only): an RNN over each
            document's window vectors
    head    (heads.py): the summary to the logits
    bag     (bag.py, optional): a second expert, a linear model over the TF-IDF of the
            document's hashed word unigrams and bigrams

A flat model reads `encoder -> pooling -> dropout -> head`; padding never changes a
prediction (property tests on both RNN paths). With `rnn_tokens` > 0 its RNN reads at
most that many tokens of each document, half from its head and half from its tail
(`head_tail_cut`, the tokenizer's `head_tail` truncation), while the bag reads all
`tokenize.max_tokens`: the linear part costs a few integer operations a token, the
RNN most of the step.

`kind="hierarchical"` follows RoBERT (Pappagari et al. 2019): each document is cut
into overlapping windows of `chunk_tokens` starting every `chunk_stride` tokens
(`chunk_windows`), each window becomes one vector (encoder and pooling, or the frozen
MiniLM window encoder with `chunk_encoder: minilm`, which lives outside the module: no
parameters here, none saved; load_model_dir and the train stage attach it), and the
window recurrence reads them; the head reads its summary. It takes the same padded ids
and lengths as the flat model, so the trainer, evaluation and scoring need nothing
else, and the padding-invariance tests cover it too. `max_chunks` > 0 keeps a
document's first `max_chunks` windows.

With a bag (`bag_buckets` > 0, fitted as a logistic regression by
doclstm/training/bag_fit.py) the logits are the two experts' weighted by
`expert_weights` (a buffer, even until training picks the RNN's share on val).
Binary tasks have one logit (BCEWithLogitsLoss), multi-class one per class
(CrossEntropyLoss); probabilities are computed at scoring, not here, from the logits
divided by the `temperature` buffer that training fits on val (calibration.py).

The parts' weights are named by their part (`encoder.rnn.weight_ih_l0`, `head.weight`);
`legacy_state` renames the weights of a model folder saved when the classifier was one
flat module (`rnn.weight_ih_l0`), and gives one saved before calibration a temperature
of 1, so such folders still load and predict as they did.
"""

from __future__ import annotations

import torch
from torch import nn

from doclstm.errors import DoclstmError
from doclstm.models.bag import TokenBag
from doclstm.models.config import ModelConfig
from doclstm.models.cuts import chunk_windows, head_tail_cut
from doclstm.models.heads import head_for
from doclstm.models.pooling import Pooling
from doclstm.models.recurrent_encoder import PATHS, RecurrentEncoder
from doclstm.models.window_encoder import DIM as MINILM_DIM
from doclstm.models.window_encoder import MiniLMWindows
from doclstm.models.window_recurrence import WindowRecurrence

# Weight names of a classifier saved as one flat module -> their part's names.
LEGACY_PREFIXES = {
    "embedding.": "encoder.embedding.",
    "rnn.": "encoder.rnn.",
    "attention.": "pooling.attention.",
    "doc_rnn.": "windows.rnn.",
}


class SequenceClassifier(nn.Module):
    expert_weights: torch.Tensor  # with a bag: the RNN's and the bag's shares of the logits
    temperature: torch.Tensor  # what probabilities divide the logits by (fitted on val)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.dropout = nn.Dropout(config.dropout)
        # Built in this order (encoder, pooling, windows, head, bag): a seed gives the
        # same initial weights as ever.
        self.encoder: RecurrentEncoder | None = None
        self.pooling: Pooling | None = None
        self.window_encoder: MiniLMWindows | None = None
        if config.chunk_encoder == "minilm":
            summary_width = MINILM_DIM
        else:
            self.encoder = RecurrentEncoder(config)
            self.pooling = Pooling(config.pooling, self.encoder.width, config.hidden_size)
            summary_width = self.pooling.width
        self.windows: WindowRecurrence | None = None
        if config.kind == "hierarchical":
            self.windows = WindowRecurrence.of_model(config, summary_width)
            summary_width = self.windows.width
        self.head = head_for(config, summary_width)
        self.bag = (
            TokenBag(config.vocab_size, config.bag_buckets, config.num_outputs)
            if config.bag_buckets
            else None
        )
        if self.bag is not None:  # the RNN's and the bag's shares (bag_fit.py picks them)
            self.register_buffer("expert_weights", torch.tensor([0.5, 0.5]))
        # Temperature scaling (doclstm/training/calibration.py): 1 until training fits it.
        self.register_buffer("temperature", torch.tensor(1.0))

    @property
    def embedding(self) -> nn.Embedding:
        """The encoder's embedding (what token vectors and pretraining initialize)."""
        return self._recurrent().embedding

    @property
    def rnn(self) -> nn.RNNBase:
        """The encoder's stacked RNN."""
        return self._recurrent().rnn

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
        if path not in PATHS:
            raise ValueError(f"unknown RNN path {path!r}")
        if self.windows is not None:
            recurrent = self._hierarchical(input_ids, lengths, path)
        else:
            ids, read = head_tail_cut(
                input_ids, lengths, self.config.rnn_tokens, self.config.pad_id
            )
            recurrent = self.head(self.dropout(self.summarize(ids, read, path)))
        return self.with_bag(recurrent, input_ids, lengths, experts)

    def summarize(self, input_ids: torch.Tensor, lengths: torch.Tensor, path: str) -> torch.Tensor:
        """The pooled summary of each sequence: what the flat head reads."""
        encoder, pooling = self._recurrent(), self.pooling
        assert pooling is not None  # built with the encoder
        steps, last = encoder(input_ids, lengths, path)
        return pooling(steps, last, lengths)

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
        assert self.windows is not None
        chunks, chunk_lengths, counts = chunk_windows(
            input_ids, lengths, c.chunk_tokens, c.chunk_stride, c.max_chunks, c.pad_id
        )
        if c.chunk_encoder == "minilm":
            if self.window_encoder is None:
                raise DoclstmError("a MiniLM hierarchical model needs its window encoder attached")
            vectors = self.dropout(self.window_encoder.vectors(chunks, chunk_lengths))
        else:
            vectors = self.dropout(self.summarize(chunks, chunk_lengths, path))
        return self.head(self.dropout(self.windows(vectors, counts)))

    def _recurrent(self) -> RecurrentEncoder:
        if self.encoder is None:
            raise AttributeError("a model of MiniLM windows has no recurrent encoder")
        return self.encoder


def legacy_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` with the weight names of a classifier saved as one flat module
    (`rnn.weight_ih_l0`) renamed to their part's (`encoder.rnn.weight_ih_l0`), and a
    temperature of 1 where it has none; a current state is returned as it is."""
    renamed = {}
    for name, tensor in state.items():
        old = next((p for p in LEGACY_PREFIXES if name.startswith(p)), None)
        renamed[LEGACY_PREFIXES[old] + name.removeprefix(old) if old else name] = tensor
    renamed.setdefault("temperature", torch.tensor(1.0))
    return renamed
