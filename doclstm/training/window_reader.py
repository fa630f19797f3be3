"""How the teacher combines a document's windows: the mean of their logits, or a window
reader fitted on their fine-tuned MiniLM vectors (`teacher.combine`).

With `auto` both are measured on val and the better by `teacher.monitor` is kept
(ties keep the mean, which costs nothing); `mean` and `recurrence` force one. The
reader is fitted once MiniLM is fine-tuned and frozen: every window of every train
document is read once, a bidirectional GRU over each document's window vectors
(doclstm/models/teacher_model.WindowReader) is trained on the train labels for
`teacher.reader_epochs` with Adam, and its epoch best on val is kept. Where no
document has more than one window the mean is kept without fitting anything: a
reader would read one vector, as the head does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from doclstm.config.params import TeacherParams
from doclstm.models.config import output_count
from doclstm.models.loss import ClassificationLoss, probabilities
from doclstm.models.teacher_model import TeacherClassifier, WindowReader, mean_by_owner
from doclstm.training.objectives import val_metrics
from doclstm.training.teacher_fit import reader_logits, window_outputs

log = logging.getLogger(__name__)
_DOCUMENTS_A_STEP = 32


@dataclass(frozen=True)
class DocumentWindows:
    """A split's windows: their ids, `owner[i]` window i's document, in document order."""

    ids: list[np.ndarray]
    owner: np.ndarray
    label_ids: np.ndarray  # per document (several labels a document: documents x labels)

    @property
    def multi_label(self) -> bool:
        return self.label_ids.ndim == 2


@dataclass(frozen=True)
class Combination:
    chosen: str  # mean | recurrence
    val: dict[str, dict[str, float]]  # by combination measured: its val metrics
    reader_epoch: int | None  # the reader's epoch kept, when one was fitted


def choose_combination(
    model: TeacherClassifier,
    train: DocumentWindows,
    val: DocumentWindows,
    labels: list[str],
    params: TeacherParams,
    seed: int,
    device: torch.device,
) -> Combination:
    """Measure the combinations `teacher.combine` asks for on val; with the recurrence
    kept, `model.reader` is set to the fitted reader."""
    budget = params.batch_size * params.window_tokens * 4
    most_windows = max(_most_windows(train.owner), _most_windows(val.owner))
    if params.combine == "mean" or (params.combine == "auto" and most_windows <= 1):
        return Combination("mean", {}, None)
    val_vectors = window_outputs(model, val.ids, budget, device, vectors=True)
    measured = {"mean": _metrics(_mean_logits(model, val_vectors, val.owner), val, labels)}
    train_vectors = window_outputs(model, train.ids, budget, device, vectors=True)
    reader, epoch, metrics = fit_reader(
        train_vectors, train, val_vectors, val, labels, params, seed, device
    )
    measured["recurrence"] = metrics
    sign = 1.0 if params.monitor == "val_log_loss" else -1.0
    better = sign * metrics[params.monitor] < sign * measured["mean"][params.monitor]
    if params.combine == "recurrence" or better:
        model.reader = reader
        return Combination("recurrence", measured, epoch)
    return Combination("mean", measured, epoch)


def _most_windows(owner: np.ndarray) -> int:
    return int(np.bincount(owner).max()) if len(owner) else 0


@torch.no_grad()
def _mean_logits(model: TeacherClassifier, vectors: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """The mean of the windows' logits: the head is linear, so the head of the mean vector."""
    documents = int(owner.max()) + 1 if len(owner) else 0
    means = torch.as_tensor(
        mean_by_owner(vectors, owner, documents), device=model.head.weight.device
    )
    return model.head(means).float().cpu().numpy()


def _metrics(logits: np.ndarray, split: DocumentWindows, labels: list[str]) -> dict[str, float]:
    probs = probabilities(torch.as_tensor(logits), split.multi_label).numpy()
    return val_metrics(split.label_ids, probs, labels)


def fit_reader(
    train_vectors: np.ndarray,
    train: DocumentWindows,
    val_vectors: np.ndarray,
    val: DocumentWindows,
    labels: list[str],
    params: TeacherParams,
    seed: int,
    device: torch.device,
) -> tuple[WindowReader, int, dict[str, float]]:
    """The reader at its best val epoch, that epoch, and its val metrics."""
    outputs = output_count(len(labels), train.multi_label)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    reader = WindowReader(params.reader_hidden, outputs, params.dropout).to(device)
    optimizer = torch.optim.Adam(reader.parameters(), lr=params.reader_learning_rate)
    criterion = ClassificationLoss(outputs).to(device)
    counts = np.bincount(train.owner, minlength=len(train.label_ids))
    firsts = np.concatenate(([0], np.cumsum(counts)))
    targets = torch.as_tensor(train.label_ids)
    sign = 1.0 if params.monitor == "val_log_loss" else -1.0
    best: tuple[float, int, dict[str, Any], dict[str, float]] | None = None
    for epoch in range(1, params.reader_epochs + 1):
        reader.train()
        order = torch.randperm(len(counts), generator=generator).numpy()
        for start in range(0, len(order), _DOCUMENTS_A_STEP):
            docs = order[start : start + _DOCUMENTS_A_STEP]
            rows = np.concatenate([np.arange(firsts[d], firsts[d + 1]) for d in docs])
            logits = reader(
                torch.as_tensor(train_vectors[rows], device=device),
                torch.as_tensor(counts[docs]),
            )
            loss = criterion(logits, targets[docs].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        metrics = _metrics(reader_logits(reader, val_vectors, val.owner, device), val, labels)
        score = sign * metrics[params.monitor]
        if best is None or score < best[0]:
            state = {k: v.detach().clone() for k, v in reader.state_dict().items()}
            best = (score, epoch, state, metrics)
    assert best is not None
    _, epoch, state, metrics = best
    reader.load_state_dict(state)
    log.info("teacher: window reader, best val epoch %d: %s", epoch, metrics)
    return reader.eval(), epoch, metrics
