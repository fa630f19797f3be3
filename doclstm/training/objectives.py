"""What the trainer optimizes and how it judges an epoch: classification or language modelling.

`doclstm.training.trainer.fit` is one loop (bucketed batches, resume, DDP, mixed
precision, early stopping) for both; an objective supplies the backward
pass of one batch and the validation metrics of one epoch, and names the
metric that picks the best epoch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from doclstm.config.params import DistillParams, TrainParams
from doclstm.evaluation.metrics import classification_metrics
from doclstm.evaluation.multilabel_metrics import label_log_loss, tuned_f1_scores
from doclstm.models.inference import predict_probabilities
from doclstm.models.language_model import EncoderLanguageModel, predicted_tokens, segment_starts
from doclstm.models.loss import ClassificationLoss, balanced_class_weights, positive_weights
from doclstm.storage.token_data import TokenSplit
from doclstm.text.batching import BucketBatchSampler, pad_batch

Autocast = Callable[[], contextlib.AbstractContextManager[Any]]


class Objective(Protocol):
    monitor: str  # the validation metric that picks the best epoch
    lower_is_better: bool

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
        """Forward and (scaled) backward of one batch; returns its mean loss, undetached.
        `targets`: the teacher's logits of the batch's documents, when distilling."""
        ...

    def evaluate(self, model: nn.Module, val: TokenSplit, device: torch.device) -> dict[str, float]:
        """The validation metrics of the model as it stands."""
        ...


@dataclass
class ClassifierObjective:
    criterion: ClassificationLoss
    labels: list[str]
    batch_tokens: int
    monitor: str
    lower_is_better: bool
    distill: DistillParams = field(default_factory=DistillParams)  # with teacher logits

    @classmethod
    def build(
        cls,
        num_outputs: int,
        labels: list[str],
        params: TrainParams,
        train_label_ids: np.ndarray,
        device: torch.device,
    ) -> ClassifierObjective:
        weights = None
        if params.class_weights == "balanced" and train_label_ids.ndim == 2:
            weights = positive_weights(train_label_ids)  # each label's positives
        elif params.class_weights == "balanced":
            weights = balanced_class_weights(train_label_ids, len(labels))
        criterion = ClassificationLoss(num_outputs, weights, params.label_smoothing).to(device)
        return cls(
            criterion,
            labels,
            params.batch_tokens * 4,
            params.monitor,
            params.monitor == "val_log_loss",
            params.distill,
        )

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
            experts = net(ids, lengths, experts=True)
        # Each expert that learns by gradient on its own loss, so that one cannot fit the
        # train set for the other (a fitted bag is frozen: the RNN's loss alone).
        model = net.module if isinstance(net, DistributedDataParallel) else net
        trained = experts[: model.gradient_experts]
        if targets is not None and targets.numel():
            losses = [self.distilled(logits, labels, targets) for logits in trained]
        else:
            losses = [self.criterion(logits, labels) for logits in trained]
        loss = torch.stack(losses).mean()
        scaler.scale(loss).backward()
        return loss

    def distilled(
        self, logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor
    ) -> torch.Tensor:
        """Tang et al. 2019: a labelled document's loss is `weight` x cross-entropy on its
        label + (1 - weight) x the distillation loss; a document without a label (an
        augmented copy, unlabelled text: label -1, or with several labels a document a
        row of -1) has the distillation loss alone. The batch's loss is the mean over its
        documents."""
        logits = logits.float()
        multi = labels.dim() == 2
        soft = distillation_losses(
            logits, teacher.float(), self.distill.loss, self.distill.temperature, multi
        )
        labelled = (labels >= 0).all(1) if multi else labels >= 0
        w = self.distill.weight
        total = torch.where(labelled, (1 - w) * soft, soft).sum()
        if bool(labelled.any()) and w > 0:
            count = labelled.sum()
            total = total + w * self.criterion(logits[labelled], labels[labelled]) * count
        return total / len(labels)

    def evaluate(self, model: nn.Module, val: TokenSplit, device: torch.device) -> dict[str, float]:
        probs = predict_probabilities(model, val.sequences, self.batch_tokens, device)  # type: ignore[arg-type]
        return val_metrics(val.label_ids, probs, self.labels)


def val_metrics(label_ids: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict[str, float]:
    """What a classifier's epoch is judged by (`train.monitor` names one). With several
    labels a document (2-D `label_ids`) each label is decided at its best threshold on
    these documents (as the thresholds are tuned after the last epoch): accuracy is every
    label right (subset accuracy), macro-F1 the labels' mean F1, and the micro-F1 is
    added; the log loss is the labels' binary ones summed."""
    if label_ids.ndim == 2:
        targets = label_ids > 0
        scores = tuned_f1_scores(targets, probs)
        return {
            "val_accuracy": scores["subset_accuracy"],
            "val_macro_f1": scores["macro_f1"],
            "val_micro_f1": scores["micro_f1"],
            "val_log_loss": label_log_loss(targets, probs),
        }
    metrics = classification_metrics(label_ids, probs, labels)
    return {
        "val_accuracy": metrics["accuracy"],
        "val_macro_f1": metrics["macro_f1"],
        "val_log_loss": metrics["log_loss"],
    }


def distillation_losses(
    student: torch.Tensor,
    teacher: torch.Tensor,
    kind: str,
    temperature: float,
    multi_label: bool = False,
) -> torch.Tensor:
    """Per document: `mse`, the mean squared difference of the logits (Tang et al.);
    `kl`, KL(teacher || student) of the distributions at `temperature`, times its square
    (Hinton et al. 2015), with one logit the binary case (sigmoid). With several labels a
    document each logit is its label's own sigmoid: the labels' binary KLs, summed."""
    if kind == "mse":
        return (student - teacher).pow(2).mean(1)
    t = temperature
    if student.size(1) == 1 or multi_label:
        p = torch.sigmoid(teacher / t)
        log_q1 = nn.functional.logsigmoid(student / t)
        log_q0 = nn.functional.logsigmoid(-student / t)
        log_p1 = nn.functional.logsigmoid(teacher / t)
        log_p0 = nn.functional.logsigmoid(-teacher / t)
        kl = (p * (log_p1 - log_q1) + (1 - p) * (log_p0 - log_q0)).sum(1)
    else:
        log_p = torch.log_softmax(teacher / t, 1)
        log_q = torch.log_softmax(student / t, 1)
        kl = (log_p.exp() * (log_p - log_q)).sum(1)
    return kl * t * t


@dataclass
class LanguageModelObjective:
    """Next-token (and, bidirectional, previous-token) prediction, `bptt` steps at a time."""

    bptt: int
    samples: int  # sampled-softmax words per step; 0: full softmax
    batch_tokens: int
    max_batch_size: int
    monitor: str = "val_perplexity"
    lower_is_better: bool = True

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
        model = _unwrapped(net)
        streams = model.streams(ids, lengths)
        total = max(predicted_tokens(lengths, len(model.directions)), 1)
        starts = segment_starts(lengths, self.bptt)
        nll_sum = torch.zeros((), device=ids.device)
        state = None
        for i, start in enumerate(starts):
            # Under DDP, gradients are averaged once, after the batch's last segment.
            last = i == len(starts) - 1
            sync = net.no_sync() if isinstance(net, DistributedDataParallel) and not last else None
            with sync or contextlib.nullcontext():
                with autocast():
                    nll, _, state = net(streams, lengths, start, self.bptt, state, self.samples)
                scaler.scale(nll / total).backward()
            nll_sum += nll.detach()
        return nll_sum / total

    def evaluate(self, model: nn.Module, val: TokenSplit, device: torch.device) -> dict[str, float]:
        nll, tokens = held_out_nll(
            _unwrapped(model), val, self.batch_tokens, self.max_batch_size, self.bptt, device
        )
        loss = nll / max(tokens, 1)
        return {"val_loss": loss, "val_perplexity": math.exp(min(loss, 50.0))}


@torch.no_grad()
def held_out_nll(
    model: EncoderLanguageModel,
    split: TokenSplit,
    batch_tokens: int,
    max_batch_size: int,
    bptt: int,
    device: torch.device,
) -> tuple[float, int]:
    """Summed full-softmax negative log-likelihood of `split` and the tokens it covers."""
    was_training = model.training
    model.eval()
    sampler = BucketBatchSampler(split.lengths, batch_tokens, max_batch_size, 0, shuffle=False)
    total, tokens = 0.0, 0
    for batch in sampler.batches():
        ids, lengths = pad_batch([split.sequence(i) for i in batch])
        streams = model.streams(ids.to(device), lengths)
        state = None
        for start in segment_starts(lengths, bptt):
            nll, count, state = model(streams, lengths, start, bptt, state, 0)
            total += float(nll)
            tokens += count
    model.train(was_training)
    return total, tokens


def _unwrapped(net: nn.Module) -> EncoderLanguageModel:
    model = net.module if isinstance(net, DistributedDataParallel) else net
    assert isinstance(model, EncoderLanguageModel), "the language-model objective trains one"
    return model
