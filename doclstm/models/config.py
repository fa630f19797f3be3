"""`ModelConfig`: the shape of a network, made from the typed `train.model` settings.

It is what a model folder's config.json holds, and what every network here is built
from; the settings are validated once, by `ModelParams`, however the config is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from doclstm.config.params import ModelParams
from doclstm.errors import DoclstmError


def output_count(num_labels: int, multi_label: bool = False) -> int:
    """The logits a classifier gives: one for two classes (a sigmoid), else one a label."""
    return 1 if num_labels == 2 and not multi_label else num_labels


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape: the vocabulary and labels of a tokens folder, plus the typed
    `train.model` settings (`ModelParams`), validated there and only there. It has no
    defaults of its own: build it with `for_tokens` (the stages), `build` (the shipped
    `train.model` defaults with changes) or `from_dict` (a model folder's config.json)."""

    vocab_size: int
    num_labels: int
    cell: str
    embedding_dim: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    dropout: float
    pooling: str
    rnn_path: str  # auto: padded on CPU, packed on CUDA
    kind: str  # flat | hierarchical (windows, then an RNN over window vectors)
    chunk_tokens: int
    chunk_stride: int
    max_chunks: int  # 0: every window
    chunk_encoder: str  # hierarchical: lstm (trained) | minilm (frozen, cached)
    embedding_init: str  # what training started the embedding from: random | minilm
    token_dropout: float  # training: the share of tokens whose vector is zeroed
    bag_buckets: int  # > 0: a linear expert over hashed word uni+bigrams (bag.py)
    rnn_share: float | str  # the RNN's share of the logits with a bag, or "auto"
    rnn_tokens: int  # > 0, flat: the RNN reads this many tokens, head and tail halves
    pad_id: int = 0
    multi_label: bool = False  # several labels a document: one sigmoid output a label

    @property
    def num_outputs(self) -> int:
        return output_count(self.num_labels, self.multi_label)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """The shape in a few words, for a log line ("2-layer bidirectional lstm 256,
        max pooling, embedding 256 from minilm, bag 262,144; 5 labels")."""
        directions = "bidirectional " if self.bidirectional else ""
        rnn = f"{self.num_layers}-layer {directions}{self.cell} {self.hidden_size}"
        if self.kind == "hierarchical":
            rnn = f"hierarchical ({self.chunk_encoder} windows of {self.chunk_tokens}), {rnn}"
        bag = f", bag {self.bag_buckets:,}" if self.bag_buckets else ""
        return (
            f"{rnn}, {self.pooling} pooling, embedding {self.embedding_dim} from "
            f"{self.embedding_init}{bag}; {self.num_labels} labels"
            + (", several a document" if self.multi_label else "")
        )

    @classmethod
    def build(
        cls,
        vocab_size: int,
        num_labels: int,
        model: ModelParams | None = None,
        pad_id: int = 0,
        multi_label: bool = False,
        **changes: Any,
    ) -> ModelConfig:
        """`model` (default: the shipped `train.model`) with `changes`, validated as params."""
        settings = {**(model or ModelParams()).model_dump(), **changes}
        try:
            checked = ModelParams.model_validate(settings)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'model'}: {e['msg']}" for e in exc.errors()
            )
            raise DoclstmError(f"invalid model settings: {problems}") from exc
        return cls(
            vocab_size, num_labels, pad_id=pad_id, multi_label=multi_label, **checked.model_dump()
        )

    @classmethod
    def for_tokens(cls, tokens_summary: Mapping[str, Any], model: ModelParams) -> ModelConfig:
        """The classifier `train.model` describes over a tokens folder (its manifest's
        summary: the vocabulary size, the labels and whether a document has several)."""
        return cls.build(
            tokens_summary["vocab_size"],
            len(tokens_summary["labels"]),
            model,
            multi_label=tokens_summary.get("task") == "multi",
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """A model folder's config.json, checked as the params it was built from."""
        settings = dict(data)
        try:
            vocab_size, num_labels = settings.pop("vocab_size"), settings.pop("num_labels")
        except KeyError as exc:
            raise DoclstmError(f"model config.json does not match this doclstm: {exc}") from exc
        try:
            return cls.build(
                vocab_size,
                num_labels,
                pad_id=settings.pop("pad_id", 0),
                multi_label=settings.pop("multi_label", False),
                **settings,
            )
        except DoclstmError as exc:
            raise DoclstmError(f"model config.json does not match this doclstm: {exc}") from exc
