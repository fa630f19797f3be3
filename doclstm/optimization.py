"""One optimizer step of a classifier, and everything it needs, built from `TrainParams`.

Shared by the trainer and the throughput benchmark, so the benchmark times
exactly the step training takes: autocast (CUDA, bf16/fp16), the loss with
class weights and label smoothing, gradient scaling for fp16, clipping,
AdamW and the learning-rate schedule.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from doclstm.errors import DoclstmError
from doclstm.model import ClassificationLoss, SequenceClassifier, balanced_class_weights
from doclstm.params import TrainParams


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `train.precision`; None runs in float32.

    `auto` is float32 until a GPU measurement says otherwise (BENCHMARKS.md):
    the cuDNN LSTM under autocast runs in fp16 whatever dtype is asked for.
    """
    if precision in ("auto", "fp32"):
        return None
    if device.type != "cuda":
        raise DoclstmError(f"train.precision {precision} needs CUDA; use fp32 or auto on {device}")
    return torch.bfloat16 if precision == "bf16" else torch.float16


@dataclass
class Optimization:
    model: SequenceClassifier
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    criterion: ClassificationLoss
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    grad_clip: float

    @classmethod
    def build(
        cls,
        model: SequenceClassifier,
        net: torch.nn.Module,
        params: TrainParams,
        train_label_ids: np.ndarray,
        total_steps: int,
        device: torch.device,
    ) -> Optimization:
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
        )
        weights = None
        if params.class_weights == "balanced":
            weights = balanced_class_weights(train_label_ids, model.config.num_labels)
        criterion = ClassificationLoss(
            model.config.num_outputs, weights, params.label_smoothing
        ).to(device)
        amp_dtype = autocast_dtype(params.precision, device)
        return cls(
            model,
            net,
            criterion,
            optimizer,
            _scheduler(optimizer, params, total_steps),
            torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
            amp_dtype,
            params.grad_clip,
        )

    def step(self, ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Forward, backward, clip, update; returns the (undetached) mean loss."""
        autocast = (
            torch.autocast(ids.device.type, self.amp_dtype)
            if self.amp_dtype is not None
            else contextlib.nullcontext()
        )
        with autocast:
            logits = self.net(ids, lengths)
        loss = self.criterion(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])


def _scheduler(
    optimizer: torch.optim.Optimizer, params: TrainParams, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if params.schedule == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=params.learning_rate,
            total_steps=total_steps,
            pct_start=max(params.warmup_fraction, 0.01),
        )
    warmup = int(params.warmup_fraction * total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(warmup, total_steps))


def _warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor
