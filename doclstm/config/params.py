"""Typed settings for every stage, loaded once from params.yaml.

`load_params(path, overrides)` is the only reader of settings: the CLI, the
flows and DVC call it at the edge and pass the typed groups down. Unknown
keys and bad values fail with a `DoclstmError` naming the key.

Why one module: it is the schema of params.yaml, one group per class in the file's
order, with the cross-group checks and the one definition of which settings shape a
result (`result_settings`, `Params.model_settings`); split, a reader would need
several files to see what one params.yaml may hold.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from doclstm.errors import DoclstmError

MINILM_DIM = 384  # the width of all-MiniLM-L6-v2's vectors (doclstm/models/window_encoder.py)


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseParams(_Group):
    seed: int = 1234  # seeds every random choice: weights, batches, augmentation, bootstraps
    workspace: Path = Path(".")
    # A second run on a busy workspace waits this long for it, then fails (0: at once).
    lock_wait_seconds: float = Field(0.0, ge=0)


class SourceParams(_Group):
    """One document source; `ingest.source` is one of these, a bare path, or a list of them."""

    # A folder, a .tar/.tar.gz/.tar.xz/.zip, a .csv/.jsonl/.parquet, or builtin:<name>.
    path: str
    # How to read path; auto: by its suffix, or a folder.
    format: Literal["auto", "folder", "tar", "zip", "csv", "jsonl", "parquet"] = "auto"
    name: str = ""  # the `source` of every row; empty: `path` as given
    # Folders and archives: the folder holding the label (or train/test) folders, and
    # which levels the tree has; both inferred when left at their defaults.
    root: str = ""
    # Splits (train/, test/), labels (<label>/*.txt) or files (unlabelled).
    layout: Literal["auto", "splits", "labels", "files"] = "auto"
    # Tables: which columns hold what; id_column/label_column/split_column may be absent.
    text_column: str = "text"
    # A label, a list, or labels joined by label_separator; null: none.
    label_column: str | None = "label"
    id_column: str | None = "id"  # each row's doc_id; null: <file>:line<N>
    # Train/val/test, the source's own split; null: by doc_id's hash.
    split_column: str | None = None
    csv_delimiter: str = Field(",", min_length=1, max_length=1)  # a CSV's field separator
    # Several labels a document: a list cell (JSON Lines array, Parquet list) is always
    # read as a list; a text cell is split on this separator when it is set ("|", ";").
    label_separator: str | None = Field(None, min_length=1)
    # A labelled document with no label (an empty list, or an empty cell when
    # label_separator is set) is kept as "no label" only when this says so; otherwise an
    # empty list is quarantined and an empty cell is unlabelled.
    allow_no_label: bool = False
    id_prefix: str = ""  # prepended to every doc_id, to keep ids of merged sources apart

    @property
    def display_name(self) -> str:
        return self.name or self.path


def _as_source(value: Any) -> Any:
    """A bare string is a source path with every other setting at its default."""
    return {"path": value} if isinstance(value, str) else value


class IngestParams(_Group):
    # A folder of <label>/*.txt (optionally under train/ and test/), an archive of one,
    # a table, builtin:bbcnews, or a list of these (see SourceParams).
    source: list[SourceParams] = [SourceParams(path="builtin:bbcnews")]
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.15, gt=0, lt=1)
    rows_per_part: int = Field(50_000, gt=0)  # rows a Parquet part of data/ingested holds
    # Rows a Parquet row group holds: what a reader streams at once.
    row_group_rows: int = Field(4_096, gt=0)
    # Archive-bomb and runaway-input limits (uncompressed bytes): a document over the
    # first is quarantined unread; past the second, the rest of that source is refused.
    max_document_bytes: int = Field(16 * 2**20, gt=0)
    max_source_bytes: int = Field(256 * 2**30, gt=0)

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [_as_source(item) for item in (value if isinstance(value, list) else [value])]

    @model_validator(mode="after")
    def _distinct_names(self) -> IngestParams:
        names = [s.display_name for s in self.source]
        if not names:
            raise ValueError("ingest.source: give at least one source")
        if len(set(names)) != len(names):
            raise ValueError("ingest.source: two sources share a name; set `name` on each")
        return self


class ValidateParams(_Group):
    # single: one label a document; multi: any number (a sigmoid a label); auto: multi
    # when any document's labels come as a list, or as several, or as "no label".
    task: Literal["auto", "single", "multi"] = "auto"
    min_chars: int = Field(1, ge=1)  # a shorter document is quarantined
    max_chars: int = Field(2_000_000, gt=1)  # a longer document is quarantined
    # Fraction of rows that may be quarantined before the stage fails.
    failure_budget: float = Field(0.05, ge=0, le=1)
    # Warning level: the largest train class may be at most this many times the smallest.
    max_class_ratio: float = Field(10.0, ge=1)
    # The stage fails when a train class has fewer documents than this (after quarantine):
    # a class that small is usually a stray folder or a typo in a label column.
    min_class_documents: int = Field(5, ge=1)
    # Multi-label only: a label under min_class_documents fails the stage (fail), or is
    # taken off every document that carries it (drop; a document left with no label is
    # quarantined); the dropped labels are in the summary.
    rare_labels: Literal["fail", "drop"] = "fail"
    # The labels expected (empty: whatever the train split holds). Rows with any other
    # label are quarantined, and each listed label must have min_class_documents.
    labels: list[str] = []

    @field_validator("labels")
    @classmethod
    def _distinct_labels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or any(not label for label in value):
            raise ValueError(f"{value!r}: labels must be distinct and non-empty")
        return value


class TokenizeParams(_Group):
    # minilm: the shipped MiniLM's 30,522 word pieces and its normalizer, nothing trained
    # (vocab_size, min_frequency, lowercase, normalization and strip_accents then unused):
    # a word outside the train text keeps pieces with MiniLM's vectors (embedding_init).
    # Picked by the mean val accuracy of the benchmark corpora over a trained wordpiece.
    model: Literal["minilm", "wordpiece", "bpe", "unigram", "wordlevel"] = "minilm"
    vocab_size: int = Field(8_000, ge=100)  # tokens the trained tokenizer keeps
    min_frequency: int = Field(2, ge=1)  # not used by unigram, whose trainer prunes by loss
    lowercase: bool = True  # lower-case the text before tokenizing
    normalization: Literal["nfkc", "nfc", "nfkd", "nfd", "none"] = "nfkc"
    strip_accents: bool = False  # drop accents before tokenizing
    max_tokens: int = Field(2_048, ge=1)
    # none: keep whole documents (hierarchical models); longer ones are still counted.
    truncation: Literal["head", "tail", "head_tail", "none"] = "head_tail"
    shard_tokens: int = Field(1_000_000, ge=1)  # tokens a token shard holds
    row_group_rows: int = Field(1_024, ge=1)  # documents a token shard's row group holds
    encode_batch_docs: int = Field(1_024, ge=1)  # documents the tokenizer encodes in one call
    # A tokenizer.json doclstm wrote (an earlier run's data/tokens/tokenizer.json, kept
    # aside), used as is instead of training one: the vocabulary then stays the same
    # from run to run, so a pretrained encoder (train.init_from) keeps fitting. Relative
    # to the workspace. The training settings (TOKENIZER_TRAINING) are then the file's.
    tokenizer: str = ""

    def result_settings(self, tokenizer_sha256: str | None) -> dict[str, Any]:
        """The settings the token shards depend on (what the stage fingerprint hashes).
        With a kept tokenizer, its file's sha256 stands for the tokenizer's training
        settings, and moving the file changes nothing."""
        settings = self.model_dump(mode="json", exclude={"tokenizer"})
        if tokenizer_sha256 is not None:
            for key in TOKENIZER_TRAINING:
                settings.pop(key)
            settings["tokenizer_sha256"] = tokenizer_sha256
        return settings


TOKENIZER_TRAINING = (
    "model",
    "vocab_size",
    "min_frequency",
    "lowercase",
    "normalization",
    "strip_accents",
)

# What a pretrained encoder (embedding + recurrent stack) is shaped and started by.
ENCODER_SETTINGS = {
    "cell",
    "embedding_dim",
    "hidden_size",
    "num_layers",
    "bidirectional",
    "embedding_init",
}
HIERARCHICAL_SETTINGS = ("kind", "chunk_tokens", "chunk_stride", "max_chunks", "chunk_encoder")


class ModelParams(_Group):
    cell: Literal["lstm", "gru"] = "lstm"
    embedding_dim: int = Field(256, ge=1)
    hidden_size: int = Field(128, ge=1)  # the RNN's units a direction
    num_layers: int = Field(1, ge=1)  # stacked RNN layers
    bidirectional: bool = True  # read each document both ways
    # Dropout on the embeddings, between layers and before the head.
    dropout: float = Field(0.4, ge=0, lt=1)
    pooling: Literal["last", "mean", "max", "attention", "concat"] = "max"
    # What the embedding starts from: random, or minilm, every token's vector distilled
    # from the shipped all-MiniLM-L6-v2 (doclstm/models/token_vectors.py; computed once per
    # tokenizer, kept in data/token_vectors/); embedding_dim must then be <= 384.
    embedding_init: Literal["random", "minilm"] = "minilm"
    # Training only: this share of tokens has its whole vector zeroed (word dropout).
    token_dropout: float = Field(0.0, ge=0, lt=1)
    # Two exact paths over the same weights; auto: padded on CPU, packed on CUDA.
    rnn_path: Literal["auto", "packed", "padded"] = "auto"
    # hierarchical: the RNN above reads overlapping windows of chunk_tokens tokens, one
    # every chunk_stride, pooled to one vector each; a document RNN reads those vectors
    # (RoBERT). max_chunks 0 keeps every window. Set tokenize.max_tokens high enough.
    kind: Literal["flat", "hierarchical"] = "flat"
    chunk_tokens: int = Field(200, ge=1)
    chunk_stride: int = Field(150, ge=1)
    max_chunks: int = Field(0, ge=0)
    # What turns a window into a vector: lstm, the embedding + RNN + pooling above, trained
    # end to end; minilm, frozen all-MiniLM-L6-v2 (a core dependency), its
    # window vectors computed once and cached in data/windows/.
    chunk_encoder: Literal["lstm", "minilm"] = "lstm"
    # A linear expert beside the RNN: TF-IDF of the document's words and word bigrams
    # hashed into bag_buckets rows (doclstm/models/bag.py), fitted as a logistic regression
    # (doclstm/training/bag_fit.py). 0: the RNN alone.
    bag_buckets: int = Field(262_144, ge=0)
    # With a bag: the RNN's share of the summed logits, the bag's the rest; auto: the
    # share with the lowest val log loss, picked after training (the RNN's epochs are
    # judged by it alone; BENCHMARKS.md, "Quality across corpora", has the share each
    # corpus got).
    rnn_share: Annotated[float, Field(ge=0, le=1)] | Literal["auto"] = "auto"
    # > 0 (flat): the RNN reads at most this many tokens of a document, the first and
    # last halves, while the bag reads all tokenize.max_tokens. 0: the RNN reads them all.
    rnn_tokens: int = Field(0, ge=0)

    def encoder_settings(self) -> dict[str, Any]:
        """The settings a pretrained encoder's weights depend on (what the pretrain
        stage's fingerprint hashes of the classifier it pretrains for)."""
        return self.model_dump(mode="json", include=ENCODER_SETTINGS)

    @model_validator(mode="after")
    def _stride_within_chunk(self) -> ModelParams:
        if self.chunk_encoder == "minilm" and self.kind != "hierarchical":
            raise ValueError("chunk_encoder minilm encodes windows: set kind: hierarchical")
        if self.embedding_init == "minilm" and self.chunk_encoder == "minilm":
            raise ValueError("embedding_init minilm: chunk_encoder minilm has no embedding")
        if self.embedding_init == "minilm" and self.embedding_dim > MINILM_DIM:
            raise ValueError(
                f"embedding_init minilm gives {MINILM_DIM}-d vectors: embedding_dim "
                f"{self.embedding_dim} must be at most {MINILM_DIM}"
            )
        if self.rnn_tokens and self.kind != "flat":
            raise ValueError("rnn_tokens cuts a flat model's input: a hierarchical one reads all")
        if self.chunk_stride > self.chunk_tokens:
            raise ValueError(
                f"chunk_stride {self.chunk_stride} is over chunk_tokens {self.chunk_tokens}: "
                "windows would skip tokens"
            )
        return self


class DistillParams(_Group):
    """How `train` learns from the teacher's logits when teacher.enabled."""

    # A labelled document's loss: weight x the gold labels' cross-entropy + (1 - weight)
    # x the distillation loss; an augmented or unlabelled one has the distillation loss only.
    weight: float = Field(0.0, ge=0, le=1)  # best val of 0 and 0.5 (BENCHMARKS.md)
    loss: Literal["mse", "kl"] = "mse"  # mse on the logits (Tang et al.), or kl at temperature
    temperature: float = Field(2.0, gt=0)  # kl: the temperature both distributions are softened at


class TrainParams(_Group):
    run_name: str = Field("main", pattern=r"^[A-Za-z0-9_.-]+$")
    model: ModelParams = ModelParams()
    epochs: int = Field(10, ge=1)  # epochs at most; the best on val (monitor) is kept
    learning_rate: float = Field(3e-3, gt=0)  # the peak, after warmup
    weight_decay: float = Field(0.01, ge=0)  # AdamW's weight decay
    schedule: Literal["warmup_cosine", "one_cycle"] = "warmup_cosine"
    # Share of the steps the learning rate warms up over.
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    grad_clip: float = Field(1.0, gt=0)  # gradients are clipped to this norm
    class_weights: Literal["none", "balanced"] = "none"
    # Share of the target mass spread evenly over the labels.
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)
    # A batch holds documents of similar length up to batch_tokens padded tokens (longest
    # x count) and max_batch_size documents: high enough that short texts fill the token
    # budget too (a step of 32 tweets is a few hundred tokens, and per-step costs dominate).
    batch_tokens: int = Field(12_288, ge=1)
    max_batch_size: int = Field(512, ge=1)
    # ...and at most train documents / min_steps_per_epoch (0: no such cap), so that a small
    # corpus of short texts still gets enough optimizer steps (2,732 train sentences in
    # batches of 512 would take 6 steps an epoch).
    min_steps_per_epoch: int = Field(50, ge=0)
    # Early stopping and best-epoch selection.
    monitor: Literal["val_macro_f1", "val_accuracy", "val_log_loss"] = "val_macro_f1"
    patience: int = Field(6, ge=1)  # epochs without a better val monitor before it stops
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Autocast: bf16 on CUDA or on a CPU with AMX/AVX512-BF16 (there 1.3-1.7x fp32's step,
    # accuracy within the seed spread: BENCHMARKS.md, "Training speed"), fp16 on CUDA only
    # (with a gradient scaler); auto is fp32.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # Fine-tuning (ULMFiT): each layer group below the head learns at the rate of the one
    # above divided by layer_lr_decay (2.6 in ULMFiT); `gradual` trains only the top
    # group in epoch 1 and one more group each epoch (head, RNN layers top down, embedding).
    layer_lr_decay: float = Field(1.0, ge=1)
    unfreeze: Literal["all", "gradual"] = "all"
    # The encoder (embedding + RNN) to start from: a pretrain stage output folder, relative
    # to the workspace; empty: the pretrain stage's when pretrain.enabled, else none.
    init_from: str = ""
    # With teacher.enabled: the student learns from the teacher's logits too.
    distill: DistillParams = DistillParams()
    # Several labels a document: each label's decision threshold is the one with the best
    # val F1 for that label, never below threshold_floor; with top_label_fallback a
    # document that no label passes gets its most probable label.
    threshold_floor: float = Field(0.05, ge=0, lt=1)
    top_label_fallback: bool = True
    # Not part of the result: how batches are loaded and how often state is saved.
    loader_workers: int = Field(1, ge=0)
    checkpoint_steps: int = Field(200, ge=1)

    def batch_documents(self, documents: int) -> int:
        """The most documents a batch of a split of `documents` documents holds."""
        if self.min_steps_per_epoch == 0:
            return self.max_batch_size
        return max(1, min(self.max_batch_size, documents // self.min_steps_per_epoch))

    def result_settings(self, distilled: bool = True) -> dict[str, Any]:
        """The settings the trained weights depend on (what the stage fingerprint hashes):
        not loader workers or checkpoint cadence, nor a flat model's hierarchical settings,
        nor, without a teacher (`distilled` false), the distillation's."""
        settings = self.model_dump(mode="json", exclude={"loader_workers", "checkpoint_steps"})
        if not distilled:
            settings.pop("distill")
        if self.model.kind == "flat":
            for key in HIERARCHICAL_SETTINGS:
                settings["model"].pop(key)
        return settings


class PretrainParams(_Group):
    """Language-model pretraining of `train.model`'s encoder on train + unlabelled text."""

    enabled: bool = False
    # Passes over train + unlabelled text; the best held-out perplexity is kept.
    epochs: int = Field(2, ge=1)
    learning_rate: float = Field(3e-3, gt=0)  # the language model's peak learning rate
    bptt: int = Field(128, ge=2)  # tokens per truncated-backprop segment, state carried
    samples: int = Field(1_024, ge=0)  # sampled-softmax words per step; 0: full softmax
    batch_tokens: int = Field(16_384, ge=1)  # tokens a step reads
    max_batch_size: int = Field(64, ge=1)  # sequences a step reads at most
    # The language model's own dropout (embeddings, between layers, output), not
    # train.model.dropout: on IMDB, 0.1 reached held-out perplexity 237 where the
    # classifier's 0.5 reached 295 after the same 300 steps (BENCHMARKS.md, "Pretraining").
    dropout: float = Field(0.1, ge=0, lt=1)
    # Held out of pretraining (by a hash of doc_id) to measure perplexity each epoch.
    held_out_fraction: float = Field(0.02, gt=0, lt=0.5)
    patience: int = Field(2, ge=1)  # epochs without a better held-out perplexity before it stops
    checkpoint_steps: int = Field(200, ge=1)  # not part of the result

    def result_settings(self) -> dict[str, Any]:
        """What a pretrained encoder depends on; off, pretraining shapes nothing."""
        if not self.enabled:
            return {"enabled": False}
        return self.model_dump(mode="json", exclude={"enabled", "checkpoint_steps"})


RUN_ONLY_TEACHER_SETTINGS = (
    "checkpoint_steps",
    "shard_documents",
    "runner",
    "workers",
    "ray_address",
)


class TeacherParams(_Group):
    """Fine-tuning the shipped all-MiniLM-L6-v2 as the student's teacher (Tang et al. 2019),
    and the transfer set of its logits that `train` distils (doclstm/tasks/teacher.py)."""

    enabled: bool = False  # fine-tune the teacher and distil it into the classifier
    # MiniLM word pieces a window holds, [CLS] and [SEP] included; a longer document is read
    # as windows every window_stride pieces (0: window_tokens - 2, no overlap), and its
    # logits are the mean of its windows'.
    window_tokens: int = Field(128, ge=8, le=512)
    window_stride: int = Field(0, ge=0)
    train_windows: int = Field(2, ge=1)  # of a long train document's windows, spread evenly
    epochs: int = Field(3, ge=1)  # the best epoch on val is kept
    learning_rates: list[Annotated[float, Field(gt=0)]] = Field([5e-5], min_length=1)
    batch_size: int = Field(32, ge=1)  # windows a step
    weight_decay: float = Field(0.01, ge=0)  # AdamW's weight decay while fine-tuning
    # Share of the steps the learning rate warms up over.
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    dropout: float = Field(0.1, ge=0, lt=1)  # dropout before the teacher's head
    monitor: Literal["val_accuracy", "val_log_loss"] = "val_accuracy"
    # A long document's logits: the mean of its windows', a bidirectional GRU over its
    # windows' fine-tuned MiniLM vectors (fitted after MiniLM, for reader_epochs, the best
    # on val kept), or auto: both measured on val, the better kept.
    combine: Literal["auto", "mean", "recurrence"] = "auto"
    reader_hidden: int = Field(128, ge=1)
    reader_epochs: int = Field(20, ge=1)
    reader_learning_rate: float = Field(1e-3, gt=0)  # recurrence: the window reader's learning rate
    # The transfer set: each train document, augmented_copies copies of it (each word
    # masked with mask_probability; with ngram_probability the copy is an n-gram of 1 to
    # max_ngram words, or for a document longer than a window a random window's crop), and
    # the unlabelled split when there is one; the teacher's logits for every document.
    augmented_copies: int = Field(4, ge=0)  # best val of 2, 4, 8 (BENCHMARKS.md)
    mask_probability: float = Field(0.1, ge=0, lt=1)
    ngram_probability: float = Field(0.25, ge=0, le=1)
    max_ngram: int = Field(5, ge=1)  # the longest n-gram of words an augmented copy may be
    unlabelled: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # auto: bf16 autocast on CUDA, fp32 on the CPU.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # Not part of the result: how often state is saved, documents per logits shard, and
    # where the shards are read (as score.runner: `inline` in this process, `threads`, or
    # `ray` tasks on a local Ray instance or the cluster at ray_address / RAY_ADDRESS),
    # `workers` at once.
    checkpoint_steps: int = Field(200, ge=1)
    shard_documents: int = Field(4096, ge=1)
    runner: Literal["inline", "threads", "ray"] = "inline"
    workers: int = Field(2, ge=1)
    ray_address: str = ""

    @property
    def stride(self) -> int:
        return self.window_stride or self.window_tokens - 2

    def result_settings(self) -> dict[str, Any]:
        """What the teacher and its transfer set depend on; off, nothing."""
        if not self.enabled:
            return {"enabled": False}
        return self.model_dump(mode="json", exclude={"enabled", *RUN_ONLY_TEACHER_SETTINGS})

    def fine_tune_settings(self) -> dict[str, Any]:
        """What the fine-tuned teacher depends on (not how its transfer set is made)."""
        transfer = {
            "augmented_copies",
            "mask_probability",
            "ngram_probability",
            "max_ngram",
            "unlabelled",
        }
        return {k: v for k, v in self.result_settings().items() if k not in transfer}


class EvaluateParams(_Group):
    batch_tokens: int = Field(65_536, ge=1)  # tokens a batch of test documents holds
    bootstrap_samples: int = Field(1_000, ge=10)  # resamples for the 95% intervals


class RegisterParams(_Group):
    # Empty: a SQLite store under <workspace>/data/mlflow.
    tracking_uri: str = ""
    experiment: str = "doclstm"  # the MLflow experiment the runs go to
    # The registered model the versions belong to.
    model_name: str = Field("doclstm-bbcnews", pattern=r"^[A-Za-z0-9_.-]+$")


class GateParams(_Group):
    """When the challenger replaces the champion (doclstm/registry/gate_rules.py)."""

    # With no champion yet, the challenger becomes champion if it meets these.
    # With several labels a document: min_micro_f1 and min_macro_f1.
    min_accuracy: float = Field(0.9, ge=0, le=1)
    min_macro_f1: float = Field(0.9, ge=0, le=1)  # a first champion's least test macro-F1
    # Several labels a document: a first champion's least test micro-F1.
    min_micro_f1: float = Field(0.9, ge=0, le=1)
    # Against a champion: test accuracy (several labels a document: micro-F1) higher by at
    # least this much...
    min_improvement: float = Field(0.0, ge=0, le=1)
    # ...with a one-sided p-value below this (exact McNemar; several labels a document: a
    # paired bootstrap of the micro-F1 difference)...
    alpha: float = Field(0.05, gt=0, lt=1)
    # ...and no class's recall lower than the champion's by more than this (several labels
    # a document: no F1 of a label with at least min_label_support test documents).
    max_recall_drop: float = Field(0.05, ge=0, le=1)
    min_label_support: int = Field(20, ge=1)  # a label's test documents for its F1 to be guarded


class DriftParams(_Group):
    """When a score run's documents have drifted from the model's training data: each
    threshold passed is an alert in `<output>/<model>/<version>/_drift/drift.json`."""

    # false: no report (each shard's marker still keeps its counts, a few numbers)
    enabled: bool = True
    # Population stability index of the length distribution (tokens a model reads) and
    # of the predicted labels against the training labels; 0.1 is a slight shift, 0.25 the
    # usual line of a significant one.
    max_length_psi: float = Field(0.25, gt=0)
    max_label_psi: float = Field(0.25, gt=0)
    # Points the share of unknown tokens, and of documents over the model's window, may
    # rise over the training data's.
    max_unknown_increase: float = Field(0.02, ge=0, le=1)
    max_over_window_increase: float = Field(0.1, ge=0, le=1)
    # A prediction whose top probability is under `confidence` is unsure; more than
    # `max_unsure_share` of them is an alert. Two decimals at most (a 0.01-wide histogram).
    confidence: float = Field(0.6, gt=0, le=1, multiple_of=0.01)
    max_unsure_share: float = Field(0.2, ge=0, le=1)


class ScoreParams(_Group):
    # Any ingest source (a path, or a mapping like one entry of ingest.source).
    input: SourceParams = SourceParams(path="builtin:bbcnews")
    output: Path = Path("predictions")  # the folder of predictions/<model>/<version>/
    # Empty: the registry's champion (models:/<register.model_name>@champion; in
    # `doclstm run`, the champion the gate left). Else models:/<name>/<version>,
    # models:/<name>@<alias>, or a model folder written by the train stage.
    model: str = ""
    docs_per_shard: int = Field(1_000, ge=1)  # documents an output shard holds: the unit of resume
    batch_tokens: int = Field(65_536, ge=1)  # tokens a batch holds
    # bf16: the model runs under bf16 autocast, about twice fp32's speed on a CPU with AMX
    # or AVX512-BF16; on IMDB it changed 6 labels in 24,888 (BENCHMARKS.md, "Training speed").
    precision: Literal["fp32", "bf16"] = "fp32"
    # Documents over the model's window (tokenize.max_tokens at training): `window` reads
    # them whole, window by window with the state carried (exact; unidirectional models,
    # others fall back to truncate); `truncate` cuts them as training did.
    long_documents: Literal["window", "truncate"] = "window"
    # How the score_archive flow runs the input shards: `inline` reads and scores in one
    # process (least overhead); `threads` and `ray` stage each input shard and score them
    # as parallel Prefect tasks, in threads or on a Ray cluster (prefect-ray).
    runner: Literal["inline", "threads", "ray"] = "inline"
    workers: int = Field(2, ge=1)  # shards scored at once (threads; tasks in flight on Ray)
    # Ray: empty starts a local Ray instance, unless RAY_ADDRESS is set; else
    # ray://<head>:10001 or auto (infra/ray/cluster.yaml).
    ray_address: str = ""
    # How long a second scorer of the same output folder (any workspace, any machine that
    # shares it) waits for the first to finish before it fails, naming the holder.
    lock_wait_seconds: float = Field(0.0, ge=0)
    drift: DriftParams = DriftParams()

    _input_path = field_validator("input", mode="before")(_as_source)


class NightlyParams(_Group):
    """When `nightly_retrain` runs; infra/prefect.yaml carries the same schedule (tested)."""

    cron: str = "0 2 * * *"  # the deployment's schedule (cron syntax, in nightly.timezone)
    timezone: str = "UTC"  # an IANA name: cron times are local to it, DST included

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"{value!r}: a cron schedule has five fields, e.g. '0 2 * * *'")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone, e.g. Europe/Berlin") from exc
        return value


class SearchRange(_Group):
    """One setting's space in `tune.space`: `choices`, or a `low`..`high` range (an int
    setting's is of ints; `log` samples evenly in log scale; `step` a grid)."""

    choices: list[Any] | None = Field(None, min_length=1)  # the values to try, any type
    low: float | None = None  # the range's least value, within the setting's own bounds
    high: float | None = None  # the range's greatest value, within them too
    log: bool = False  # sample evenly in log scale (a learning rate): low must be > 0
    step: float | None = Field(None, gt=0)  # only multiples of it above low (no log scale)

    @model_validator(mode="after")
    def _one_kind(self) -> SearchRange:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log or self.step:
                raise ValueError("give choices, or low and high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give choices: [...], or both low and high")
        if self.low >= self.high:
            raise ValueError(f"low {self.low} must be under high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log scale needs low > 0, not {self.low}")
        if self.log and self.step:
            raise ValueError("a log scale takes no step")
        return self


# What `doclstm tune` searches unless params.yaml names its own: the training settings
# whose best value differed between corpora, with ranges around the shipped values
# (chosen by meaning, no split read; BENCHMARKS.md, "Tuning on val").
DEFAULT_SPACE: dict[str, SearchRange] = {
    "train.learning_rate": SearchRange(low=1e-3, high=1e-2, log=True),
    "train.model.dropout": SearchRange(low=0.1, high=0.6),
    "train.model.hidden_size": SearchRange(choices=[64, 128, 256]),
    "train.min_steps_per_epoch": SearchRange(low=20, high=200, log=True),
    "train.model.pooling": SearchRange(choices=["max", "mean", "attention"]),
}


class TuneParams(_Group):
    """`doclstm tune`: the search of train.* settings on val (doclstm/tuning/)."""

    trials: int = Field(12, ge=1)  # trials the study holds at the end, however many runs
    timeout: float = Field(0.0, ge=0)  # seconds; no trial starts after; 0: no limit
    workers: int = Field(1, ge=1)  # trials trained at once, each in its own process
    # Stops a trial whose val curve lags: `median` of the trials before at the same epoch,
    # `successive_halving` keeps the best share at each rung of epochs; `none` runs all.
    pruner: Literal["median", "successive_halving", "none"] = "median"
    study: str = Field("", pattern=r"^[A-Za-z0-9_.-]*$")  # "": named after data and settings
    output: Path = Path("params.tuned.yaml")  # the best trial's settings, over the base file
    # The train.* settings searched, each a SearchRange; a params file's replaces this one.
    space: dict[str, SearchRange] = Field(default_factory=lambda: dict(DEFAULT_SPACE))


class Params(_Group):
    base: BaseParams = BaseParams()
    ingest: IngestParams = IngestParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    tokenize: TokenizeParams = TokenizeParams()
    pretrain: PretrainParams = PretrainParams()
    teacher: TeacherParams = TeacherParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    register_: RegisterParams = Field(RegisterParams(), alias="register")
    gate: GateParams = GateParams()
    score: ScoreParams = ScoreParams()
    nightly: NightlyParams = NightlyParams()
    tune: TuneParams = TuneParams()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def model_settings(
        self, tokenizer_sha256: str | None, encoder_fingerprint: str | None
    ) -> dict[str, Any]:
        """Every setting that shapes a trained model: the one definition of it, which the
        nightly training key hashes. All groups but where or how long to wait and the
        search (`score`, `nightly`, `tune`, `base.workspace`, `base.lock_wait_seconds`),
        with each stage's own result settings for tokenize, pretrain and train; a kept
        tokenizer and a starting encoder (`train.init_from`) by their content, not their paths."""
        dump: dict[str, Any] = self.model_dump(
            mode="json", by_alias=True, exclude={"score", "nightly", "tune"}
        )
        for key in ("workspace", "lock_wait_seconds"):
            dump["base"].pop(key)
        dump["tokenize"] = self.tokenize.result_settings(tokenizer_sha256)
        dump["pretrain"] = self.pretrain.result_settings()
        dump["teacher"] = self.teacher.result_settings()
        dump["train"] = self.train.result_settings(self.teacher.enabled)
        if encoder_fingerprint is not None:
            dump["train"]["init_from"] = encoder_fingerprint
        return dump

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> Params:
        left = (1 - self.ingest.test_fraction) * (1 - self.ingest.val_fraction)
        if left < 0.1:
            raise ValueError("ingest.test_fraction and ingest.val_fraction leave <10% to train")
        return self


def load_params(path: Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Params:
    """Read params.yaml (or defaults when `path` is None) and apply `a.b=c` overrides. A
    file may start from another: `extends: other.yaml` (relative to the file) reads that
    one first and this one's keys over it (what `doclstm tune` writes)."""
    raw = _read_file(path, ()) if path is not None else {}
    source = str(path) if path is not None else "defaults"
    for item in overrides:
        _apply_override(raw, item)
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        given = {item.partition("=")[0]: item for item in overrides}
        problems = "; ".join(_problem(err, given, source) for err in exc.errors())
        raise DoclstmError(f"invalid params: {problems}") from exc


def _read_file(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """One params file's mapping, over the file it `extends` (read the same way)."""
    if not path.is_file():
        whose = f" (extended by {seen[-1]})" if seen else ""
        raise DoclstmError(f"{path}: params file not found{whose}; pass --params PATH")
    if path.resolve() in seen:
        chain = " -> ".join(str(p) for p in (*seen, path.resolve()))
        raise DoclstmError(f"{path}: params files extend each other in a loop: {chain}")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DoclstmError(f"{path}: not valid YAML: {exc}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise DoclstmError(f"{path}: the top level must be a mapping of groups")
    raw: dict[str, Any] = loaded or {}
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise DoclstmError(f"{path}: extends names one params file, e.g. extends: params.yaml")
    base = _read_file(path.parent / parent, (*seen, path.resolve()))
    return _merged(base, raw)


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over`'s keys over `base`'s, mappings merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _problem(err: Any, given: dict[str, str], source: str) -> str:
    """One validation error, blamed on the `--set` that gave the value, else on the file."""
    key = ".".join(str(p) for p in err["loc"])
    setting = next(
        (item for k, item in given.items() if key == k or f"{key}.".startswith(f"{k}.")
         or k.startswith(f"{key}.")),
        None,
    )  # fmt: skip
    where = f"--set {setting}" if setting else f"{source}: {key or '<root>'}"
    hint = ""
    if err["type"] == "extra_forbidden" and err["loc"]:
        close = difflib.get_close_matches(str(err["loc"][-1]), _keys_beside(err["loc"]), n=1)
        hint = (
            f" (did you mean {'.'.join([*map(str, err['loc'][:-1]), close[0]])}?)" if close else ""
        )
    return f"{where}: {err['msg']}{hint}"


def _keys_beside(loc: tuple[Any, ...]) -> list[str]:
    """The keys params.yaml allows where `loc` names one it does not."""
    model: type[BaseModel] = Params
    for part in loc[:-1]:
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        annotation = fields[part].annotation if part in fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [field.alias or name for name, field in model.model_fields.items()]


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise DoclstmError(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=3")
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise DoclstmError(f"--set {key}: {part} is not a group")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise DoclstmError(f"--set {key}: cannot parse value {value!r}: {exc}") from exc
