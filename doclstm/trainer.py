"""The training loop: AdamW, warmup + cosine schedule, clipping, early stopping.

The best epoch by validation macro-F1 is kept; training stops after
`patience` epochs without improvement. Every epoch logs loss, validation
accuracy/macro-F1, real tokens/s and the sampler's padding waste.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from doclstm.batching import BucketBatchSampler, pad_batch
from doclstm.inference import predict_probabilities
from doclstm.metrics import classification_metrics
from doclstm.model import SequenceClassifier, loss_function, loss_target
from doclstm.params import TrainParams
from doclstm.token_data import TokenSplit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    best_state: dict[str, torch.Tensor]
    best_epoch: int
    history: list[dict[str, Any]]


def fit(
    model: SequenceClassifier,
    train: TokenSplit,
    val: TokenSplit,
    labels: list[str],
    params: TrainParams,
    seed: int,
    device: torch.device,
) -> FitResult:
    torch.manual_seed(seed)
    model.to(device).train()
    sampler = BucketBatchSampler(train.lengths, params.batch_tokens, params.max_batch_size, seed)
    steps_per_epoch = len(sampler)
    total_steps = steps_per_epoch * params.epochs
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_cosine(int(params.warmup_fraction * total_steps), total_steps)
    )
    criterion = loss_function(model.config)
    history: list[dict[str, Any]] = []
    best_f1, best_epoch, best_state = -1.0, 0, copy.deepcopy(model.state_dict())
    for epoch in range(1, params.epochs + 1):
        sampler.set_epoch(epoch)
        batches = sampler.batches()
        started = time.perf_counter()
        total_loss, real_tokens = 0.0, 0
        for batch in batches:
            ids, lengths = pad_batch([train.sequences[i] for i in batch])
            target = loss_target(model.config, torch.from_numpy(train.label_ids[batch]))
            logits = model(ids.to(device), lengths)
            loss = criterion(logits, target.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip)
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(batch)
            real_tokens += int(lengths.sum())
        seconds = time.perf_counter() - started
        probs = predict_probabilities(model, val.sequences, params.batch_tokens * 4, device)
        val_metrics = classification_metrics(val.label_ids, probs, labels)
        record = {
            "epoch": epoch,
            "train_loss": total_loss / len(train),
            "val_accuracy": val_metrics["accuracy"],
            "val_macro_f1": val_metrics["macro_f1"],
            "val_log_loss": val_metrics["log_loss"],
            "tokens_per_second": real_tokens / seconds,
            "padding_waste": sampler.padding_waste(batches),
            "seconds": seconds,
            "learning_rate": scheduler.get_last_lr()[0],
        }
        history.append(record)
        log.info(
            "epoch %d/%d  loss %.4f  val acc %.4f  val macro-F1 %.4f  %.0f tokens/s  "
            "padding %.1f%%",
            epoch,
            params.epochs,
            record["train_loss"],
            record["val_accuracy"],
            record["val_macro_f1"],
            record["tokens_per_second"],
            100 * record["padding_waste"],
        )
        if record["val_macro_f1"] > best_f1:
            best_f1, best_epoch = record["val_macro_f1"], epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= params.patience:
            log.info("early stop: no val macro-F1 gain for %d epochs", params.patience)
            break
    return FitResult(best_state, best_epoch, history)


def _warmup_cosine(warmup: int, total: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor
