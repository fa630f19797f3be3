"""What fine-tuning the teacher needs from the training loop: its windows as token
splits, the loop's settings, the objective that judges an epoch by whole documents,
and batched window logits (doclstm/models/teacher_model.py).

The teacher trains on windows (a long train document gives `teacher.train_windows`
of its windows, spread over it, each with the document's label) through
`doclstm.training.trainer.fit`, the student's loop: bucketed batches, warmup +
cosine, clipping, autocast, exact resume, DDP under torchrun. An epoch is judged
on the val documents, each read whole as the mean of its windows' logits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from doclstm.config.params import TeacherParams, TrainParams
from doclstm.evaluation.label_decisions import decide
from doclstm.evaluation.metrics import classification_metrics
from doclstm.evaluation.multilabel_metrics import f1_scores, label_log_loss, tune_thresholds
from doclstm.models.loss import ClassificationLoss, probabilities
from doclstm.models.teacher_model import Windows, document_windows, mean_by_owner, spread
from doclstm.storage.token_data import TokenSplit, offsets_of
from doclstm.text.batching import BucketBatchSampler, pad_batch
from doclstm.training.objectives import Autocast, val_metrics

_MAX_WINDOWS_PER_BATCH = 256
_READER_BATCH = 512  # documents a window-reader batch


def decoded_texts(tokenizer: Tokenizer, split: TokenSplit) -> list[str]:
    """The text each document's token ids decode to (what the teacher reads)."""
    return tokenizer.decode_batch(
        [split.sequence(i).tolist() for i in range(len(split))], skip_special_tokens=False
    )


def windows_split(
    windows: Windows, label_ids: np.ndarray, doc_ids: Sequence[str], keep: int = 0
) -> TokenSplit:
    """The windows as a token split, each with its document's label and the id
    `<doc_id>#<window>`; with `keep` > 0, only `keep` of each document's windows, spread
    evenly over it."""
    firsts = np.concatenate(([0], np.cumsum(windows.counts)[:-1])).astype(np.int64)
    rows = np.arange(len(windows.ids))
    if keep:
        picked = [
            first + spread(int(n), keep) for first, n in zip(firsts, windows.counts, strict=True)
        ]
        rows = np.concatenate(picked) if picked else rows[:0]
    owner = windows.owner[rows]
    lengths = np.array([len(windows.ids[r]) for r in rows], dtype=np.int64)
    return TokenSplit(
        [f"{doc_ids[o]}#{r - firsts[o]}" for r, o in zip(rows, owner, strict=True)],
        np.asarray(label_ids)[owner],
        np.concatenate([windows.ids[r] for r in rows]) if len(rows) else np.zeros(0, np.int32),
        offsets_of(lengths),
    )


def loop_params(params: TeacherParams, learning_rate: float, loader_workers: int) -> TrainParams:
    """The training loop's settings for fine-tuning the teacher at `learning_rate`."""
    return TrainParams(
        epochs=params.epochs,
        learning_rate=learning_rate,
        weight_decay=params.weight_decay,
        warmup_fraction=params.warmup_fraction,
        batch_tokens=params.batch_size * params.window_tokens,
        max_batch_size=params.batch_size,
        min_steps_per_epoch=0,
        monitor=params.monitor,
        patience=params.epochs,  # every epoch runs; the best on val is kept
        device=params.device,
        precision=params.precision,
        loader_workers=loader_workers,
        checkpoint_steps=params.checkpoint_steps,
    )


def autocast_precision(precision: str, device: torch.device) -> str:
    """`teacher.precision` auto: bf16 on CUDA (MiniLM has no cuDNN LSTM to worry
    about), fp32 on the CPU."""
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" else "fp32"


@torch.no_grad()
def window_outputs(
    model: nn.Module,
    windows: Sequence[np.ndarray],
    batch_tokens: int,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    vectors: bool = False,
) -> np.ndarray:
    """Logits (windows, outputs), or with `vectors` MiniLM's window vectors (windows,
    384), float32, in the order of `windows`."""
    was_training = model.training
    model.eval()
    read: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = (
        model.embed if vectors else model  # type: ignore[assignment]
    )
    lengths = np.array([len(w) for w in windows], dtype=np.int64)
    out: np.ndarray | None = None
    sampler = BucketBatchSampler(
        lengths.tolist(), batch_tokens, _MAX_WINDOWS_PER_BATCH, seed=0, shuffle=False
    )
    for batch in sampler.batches() if len(windows) else []:
        ids, lens = pad_batch([windows[i] for i in batch])
        cast = torch.autocast(device.type, amp_dtype) if amp_dtype else contextlib.nullcontext()
        with cast:
            values = read(ids.to(device), lens).float().cpu().numpy()
        if out is None:
            out = np.zeros((len(windows), values.shape[1]), dtype=np.float32)
        out[batch] = values
    model.train(was_training)
    return out if out is not None else np.zeros((0, 1), dtype=np.float32)


@dataclass
class TeacherObjective:
    """The classification loss on windows; an epoch judged on whole val documents."""

    criterion: ClassificationLoss
    val_owner: np.ndarray  # val window -> val document
    val_labels: np.ndarray  # per val document
    labels: list[str]
    batch_tokens: int
    monitor: str
    lower_is_better: bool
    multi_label: bool = False  # several labels a document: a sigmoid a label

    def backward(
        self,
        net: nn.Module,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        labels: torch.Tensor,
        autocast: Autocast,
        scaler: torch.amp.GradScaler,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        with autocast():
            logits = net(ids, lengths)
        loss = self.criterion(logits, labels)
        scaler.scale(loss).backward()
        return loss

    def evaluate(self, model: nn.Module, val: TokenSplit, device: torch.device) -> dict[str, float]:
        logits = document_logits(model, val.sequences, self.val_owner, self.batch_tokens, device)
        probs = probabilities(torch.as_tensor(logits), self.multi_label).numpy()
        return val_metrics(self.val_labels, probs, self.labels)


def split_windows(tokenizer: Tokenizer, split: TokenSplit, params: TeacherParams) -> Windows:
    """The teacher's windows of every document of `split`, read from its decoded text."""
    return document_windows(decoded_texts(tokenizer, split), params.window_tokens, params.stride)


def document_logits(
    model: nn.Module,
    windows: Sequence[np.ndarray],
    owner: np.ndarray,
    batch_tokens: int,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Each document's logits (`owner[i]`: window i's document, every document owning at
    least one, in order): the mean of its windows', or its window reader's."""
    reader = getattr(model, "reader", None)
    values = window_outputs(model, windows, batch_tokens, device, amp_dtype, reader is not None)
    if reader is None:
        return mean_by_owner(values, owner, int(owner.max()) + 1 if len(owner) else 0)
    return reader_logits(reader, values, owner, device)


@torch.no_grad()
def reader_logits(
    reader: nn.Module, vectors: np.ndarray, owner: np.ndarray, device: torch.device
) -> np.ndarray:
    """The window reader's logits for each document, from its windows' vectors in order."""
    was_training = reader.training
    reader.eval()
    counts = np.bincount(owner, minlength=int(owner.max()) + 1 if len(owner) else 0)
    firsts = np.concatenate(([0], np.cumsum(counts)))
    out = []
    for start in range(0, len(counts), _READER_BATCH):
        stop = min(start + _READER_BATCH, len(counts))
        rows = torch.as_tensor(vectors[firsts[start] : firsts[stop]], device=device)
        out.append(reader(rows, torch.as_tensor(counts[start:stop])).float().cpu().numpy())
    reader.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)


def teacher_metrics(
    objective: TeacherObjective,
    model: nn.Module,
    windows: TokenSplit,
    owner: np.ndarray,
    label_ids: np.ndarray,
    device: torch.device,
    thresholds: np.ndarray | None = None,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Accuracy, macro-F1, log loss and calibration error of whole documents. With several
    labels a document: micro- and macro-F1, subset accuracy (as `accuracy`) and the log
    loss, each label decided at `thresholds`, or when None at its best threshold on these
    documents (val's, returned for test)."""
    logits = document_logits(model, windows.sequences, owner, objective.batch_tokens, device)
    probs = probabilities(torch.as_tensor(logits), objective.multi_label).numpy()
    if objective.multi_label:
        targets = label_ids > 0
        if thresholds is None:
            thresholds = tune_thresholds(targets, probs)
        scores = f1_scores(targets, decide(probs, thresholds))
        scores["accuracy"] = scores.pop("subset_accuracy")
        return {**scores, "log_loss": label_log_loss(targets, probs)}, thresholds
    metrics = classification_metrics(label_ids, probs, objective.labels)
    keep = ("accuracy", "macro_f1", "log_loss", "expected_calibration_error")
    return {k: metrics[k] for k in keep}, None
