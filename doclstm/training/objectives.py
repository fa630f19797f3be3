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
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from doclstm.config.params import TrainParams
from doclstm.evaluation.metrics import classification_metrics
from doclstm.models.inference import predict_probabilities
from doclstm.models.language_model import EncoderLanguageModel, predicted_tokens, segment_starts
from doclstm.models.loss import ClassificationLoss, balanced_class_weights
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
    ) -> torch.Tensor:
        """Forward and (scaled) backward of one batch; returns its mean loss, undetached."""
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
        if params.class_weights == "balanced":
            weights = balanced_class_weights(train_label_ids, len(labels))
        criterion = ClassificationLoss(num_outputs, weights, params.label_smoothing).to(device)
        return cls(
            criterion,
            labels,
            params.batch_tokens * 4,
            params.monitor,
            params.monitor == "val_log_loss",
        )

    def backward(
        self,
        net: nn.Module,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        labels: torch.Tensor,
        autocast: Autocast,
        scaler: torch.amp.GradScaler,
    ) -> torch.Tensor:
        with autocast():
            experts = net(ids, lengths, experts=True)
        # Each expert that learns by gradient on its own loss, so that one cannot fit the
        # train set for the other (a fitted bag is frozen: the RNN's loss alone).
        model = net.module if isinstance(net, DistributedDataParallel) else net
        trained = experts[: model.gradient_experts]
        loss = torch.stack([self.criterion(logits, labels) for logits in trained]).mean()
        scaler.scale(loss).backward()
        return loss

    def evaluate(self, model: nn.Module, val: TokenSplit, device: torch.device) -> dict[str, float]:
        probs = predict_probabilities(model, val.sequences, self.batch_tokens, device)  # type: ignore[arg-type]
        metrics = classification_metrics(val.label_ids, probs, self.labels)
        return {
            "val_accuracy": metrics["accuracy"],
            "val_macro_f1": metrics["macro_f1"],
            "val_log_loss": metrics["log_loss"],
        }


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
