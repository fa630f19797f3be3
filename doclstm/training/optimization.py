"""One optimizer step, and everything it needs, built from `TrainParams`.

Shared by the trainer and the throughput benchmark, so the benchmark times
exactly the step training takes: autocast (bf16 on CUDA or the CPU, fp16
on CUDA), the objective's loss and backward (doclstm/training/objectives.py),
gradient scaling for fp16, clipping, AdamW and the learning-rate schedule.

Layer groups, top down: the head (everything above the encoder), each
recurrent layer from the last to the first, the embedding. With
`layer_lr_decay` d, a group's learning rate is the peak divided by d per
group below the top (ULMFiT's discriminative rates: d = 2.6); with
`unfreeze: gradual`, epoch e trains only the top e groups (ULMFiT's
gradual unfreezing): the others' learning rate is 0 through the schedule,
which is a function of the step, so a resumed run freezes exactly as the
first did, and DDP sees the same parameters in every step.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from doclstm.config.params import TrainParams
from doclstm.errors import DoclstmError
from doclstm.models.device import warn_if_bf16_is_emulated
from doclstm.training.objectives import Objective

ENCODER = "encoder"  # the classifier's recurrent encoder (doclstm/models/model.py)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `train.precision`; None runs in float32.

    `auto` is float32 until a GPU measurement says otherwise (BENCHMARKS.md):
    the cuDNN LSTM under autocast runs in fp16 whatever dtype is asked for.
    bf16 also runs on the CPU, where oneDNN's LSTM takes it: 1.3-1.7x fp32's
    step with AMX (BENCHMARKS.md, "Training speed").
    """
    if precision in ("auto", "fp32"):
        return None
    if precision == "fp16" and device.type != "cuda":
        raise DoclstmError(f"train.precision fp16 needs CUDA; use bf16, fp32 or auto on {device}")
    if precision == "bf16":
        warn_if_bf16_is_emulated(device, "train.precision")
    return torch.bfloat16 if precision == "bf16" else torch.float16


@dataclass
class Optimization:
    model: torch.nn.Module
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    objective: Objective
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    grad_clip: float

    @classmethod
    def build(
        cls,
        model: torch.nn.Module,
        net: torch.nn.Module,
        params: TrainParams,
        objective: Objective,
        steps_per_epoch: int,
        device: torch.device,
    ) -> Optimization:
        groups = layer_groups(model)
        optimizer = torch.optim.AdamW(
            [
                {"params": group, "lr": params.learning_rate / params.layer_lr_decay**depth}
                for depth, group in enumerate(groups)
            ],
            lr=params.learning_rate,
            weight_decay=params.weight_decay,
        )
        amp_dtype = autocast_dtype(params.precision, device)
        return cls(
            model,
            net,
            objective,
            optimizer,
            _scheduler(optimizer, params, steps_per_epoch),
            torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
            amp_dtype,
            params.grad_clip,
        )

    def step(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        labels: torch.Tensor,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Forward, backward, clip, update; returns the (undetached) mean loss. `targets`:
        the teacher's logits of the batch, for a distilled classifier."""

        def autocast() -> contextlib.AbstractContextManager[Any]:
            if self.amp_dtype is None:
                return contextlib.nullcontext()
            return torch.autocast(ids.device.type, self.amp_dtype)

        self.optimizer.zero_grad(set_to_none=True)
        loss = self.objective.backward(
            self.net, ids, lengths, labels, autocast, self.scaler, targets
        )
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


def layer_groups(model: torch.nn.Module) -> list[list[torch.nn.Parameter]]:
    """The model's parameters by depth, top first: the head and everything above the
    recurrent encoder, its RNN layers last to first, its embedding. A model without a
    recurrent encoder (MiniLM windows) is one group."""
    named = list(model.named_parameters())
    rnn, embedding = f"{ENCODER}.rnn.", f"{ENCODER}.embedding."
    layers = sorted({_rnn_layer(n) for n, _ in named if n.startswith(rnn)}, reverse=True)
    groups: list[list[torch.nn.Parameter]] = [
        [p for n, p in named if not n.startswith((rnn, embedding))]
    ]
    for layer in layers:
        groups.append([p for n, p in named if n.startswith(rnn) and _rnn_layer(n) == layer])
    groups.append([p for n, p in named if n.startswith(embedding)])
    return [g for g in groups if g]


def _rnn_layer(name: str) -> int:
    """`encoder.rnn.weight_ih_l1_reverse` -> 1."""
    return int(name.rsplit("_l", 1)[1].split("_")[0])


def _scheduler(
    optimizer: torch.optim.Optimizer, params: TrainParams, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    total_steps = steps_per_epoch * params.epochs
    groups = len(optimizer.param_groups)
    if params.schedule == "one_cycle":
        if params.unfreeze == "gradual":
            raise DoclstmError(
                "train.unfreeze gradual needs train.schedule warmup_cosine (its learning "
                "rate is a function of the step that freezing can scale)"
            )
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[g["lr"] for g in optimizer.param_groups],
            total_steps=total_steps,
            pct_start=max(params.warmup_fraction, 0.01),
        )
    warmup = int(params.warmup_fraction * total_steps)
    schedule = _warmup_cosine(warmup, total_steps)
    if params.unfreeze == "all":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        [_unfrozen_from(depth + 1, steps_per_epoch, schedule) for depth in range(groups)],
    )


def _unfrozen_from(
    epoch: int, steps_per_epoch: int, schedule: Callable[[int], float]
) -> Callable[[int], float]:
    """`schedule`, but 0 before `epoch` (1-based) begins."""

    def factor(step: int) -> float:
        return schedule(step) if step >= (epoch - 1) * steps_per_epoch else 0.0

    return factor


def _warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor
