"""The training loop: AdamW, warmup + cosine or one-cycle, clipping, early stopping, resume.

One loop for every objective (doclstm/training/objectives.py): the classifier's, and
the language model's that pretrains its encoder.

Batches come from `BucketBatchSampler` through a DataLoader whose worker processes
pad the next batches while the model trains (pinned memory on CUDA). The best epoch
by `train.monitor` is kept; training stops after `patience` epochs without
improvement. Every `checkpoint_steps` optimizer steps and at each epoch's end the
whole state (weights, best weights, optimizer, scheduler, sampler position,
epoch/step, every rank's RNG states, history) is written atomically to
`checkpoint_dir`; a later call with the same fingerprint carries on from there and
ends with exactly the weights an uninterrupted run would have (CPU, same seed).

Under `torchrun` the model is wrapped in DistributedDataParallel, each rank
trains on its own batches, every rank computes the same validation metrics
(so early stopping agrees) and only rank 0 writes checkpoints.

Why one module: the loop and everything its checkpoint holds (progress, sampler
position, RNG states, best weights) must be saved and restored in one place for a
resumed run to end with an uninterrupted run's weights; the classifier's finish
(the bag's share, the temperature, the bag's refit) is read beside the loop it ends.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from doclstm.config.params import TrainParams
from doclstm.console.log_text import figures
from doclstm.console.progress import EpochProgress, due
from doclstm.errors import DoclstmError
from doclstm.evaluation.label_decisions import confidence, confidence_histogram, decide
from doclstm.evaluation.multilabel_metrics import tune_thresholds
from doclstm.models.cuts import batch_lengths
from doclstm.models.inference import predict_probabilities
from doclstm.models.model import SequenceClassifier
from doclstm.storage.token_data import TokenSplit
from doclstm.text.batching import Batch, BucketBatchSampler, batch_loader, close_loader
from doclstm.training.bag_fit import BagFit, choose_rnn_share, finish_bag, fit_bag
from doclstm.training.calibration import calibrate
from doclstm.training.checkpoint import (
    load_training_state,
    rng_state,
    save_training_state,
    set_rng_state,
)
from doclstm.training.distributed import Distributed
from doclstm.training.objectives import ClassifierObjective, Objective
from doclstm.training.optimization import Optimization

log = logging.getLogger(__name__)
EpochCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class FitResult:
    best_state: dict[str, torch.Tensor]
    best_epoch: int
    history: list[dict[str, Any]]
    resumed_at_step: int | None  # the optimizer step a checkpoint brought us back to
    bag: dict[str, Any] | None = None  # what fitting the token bag chose (BagFit.summary)
    calibration: dict[str, float] | None = None  # the temperature fitted on val, and its effect
    thresholds: list[float] | None = None  # several labels a document: each label's, on val
    # several labels a document: val's confidence histogram at those thresholds (the
    # drift report's usual share of unsure predictions)
    val_confidence: list[int] | None = None


@dataclass
class _Progress:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 1  # the epoch being trained (1-based)
    step: int = 0  # optimizer steps done in all
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch_loss: float = 0.0  # sums over this epoch's steps so far (this rank)
    epoch_documents: int = 0
    epoch_tokens: int = 0
    epoch_seconds: float = 0.0


def train_sampler(
    train: TokenSplit,
    params: TrainParams,
    seed: int,
    rnn_tokens: int = 0,
    num_replicas: int = 1,
    rank: int = 0,
) -> BucketBatchSampler:
    """The batches `fit` trains on: length buckets under `params`' token budget and document
    cap, sized by the tokens the RNN reads (`rnn_tokens` cuts them)."""
    return BucketBatchSampler(
        batch_lengths(train.lengths, rnn_tokens),
        params.batch_tokens,
        params.batch_documents(len(train)),
        seed,
        num_replicas=num_replicas,
        rank=rank,
    )


def fit(
    model: torch.nn.Module,
    train: TokenSplit,
    val: TokenSplit,
    labels: list[str],
    params: TrainParams,
    seed: int,
    device: torch.device,
    checkpoint_dir: Path | None = None,
    fingerprint: str = "",
    on_epoch: EpochCallback | None = None,
    objective: Objective | None = None,
    transfer: TokenSplit | None = None,
) -> FitResult:
    """Train `model` in place and return its best state; resumes from `checkpoint_dir`.
    The objective is the classifier's (`labels`, `params`) unless one is given. With a
    `transfer` set (its documents carry the teacher's logits: a distilled student), the
    epochs run over it instead of `train`; the token bag is fitted on `train` either way."""
    dist = Distributed.from_env(device.type)
    device = dist.device(device)
    bag_fit = _fit_bag(model, train, val)
    model.to(device).train()
    net: torch.nn.Module = model
    if dist.enabled:  # broadcasts rank 0's initial weights to every rank
        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    torch.manual_seed(seed + dist.rank)  # dropout differs by rank, as it should

    # A classifier's batches are sized by what its RNN reads; a language model reads all.
    rnn_tokens = model.config.rnn_tokens if isinstance(model, SequenceClassifier) else 0
    batches_from = transfer if transfer is not None else train
    sampler = train_sampler(batches_from, params, seed, rnn_tokens, dist.world_size, dist.rank)
    if len(sampler) == 0:
        raise DoclstmError(f"not enough training batches for {dist.world_size} processes")
    if objective is None:
        assert isinstance(model, SequenceClassifier), "the default objective is classification"
        objective = ClassifierObjective.build(
            model.config.num_outputs, labels, params, train.label_ids, device
        )
    opt = Optimization.build(model, net, params, objective, len(sampler), device)
    state = _Progress()
    best_state = copy.deepcopy(model.state_dict())
    resumed_at = None
    saved = load_training_state(checkpoint_dir) if checkpoint_dir else None
    if saved is not None and saved["fingerprint"] != fingerprint:
        log.info("train: checkpoint in %s is for other data or settings; ignoring", checkpoint_dir)
        saved = None
    if saved is not None:
        if len(saved["rng"]) != dist.world_size:
            raise DoclstmError(
                f"{checkpoint_dir}: saved by {len(saved['rng'])} processes, "
                f"resumed with {dist.world_size}; resume with the same number"
            )
        state = _Progress(**saved["progress"])
        model.load_state_dict(saved["model"])
        best_state = saved["best_model"]
        opt.load_state_dict(saved["optimization"])
        sampler.load_state_dict(saved["sampler"])
        set_rng_state(saved["rng"][dist.rank])
        resumed_at = state.step
        log.info("train: resuming at epoch %d, step %d", state.epoch, state.step)
    history = state.history

    def checkpoint() -> None:
        rngs = dist.gather(rng_state())  # a collective: every rank calls this at the same step
        if checkpoint_dir is None or not dist.is_main:
            return
        save_training_state(
            checkpoint_dir,
            {
                "fingerprint": fingerprint,
                "progress": vars(state),
                "model": model.state_dict(),
                "best_model": best_state,
                "optimization": opt.state_dict(),
                "sampler": sampler.state_dict(),
                "rng": rngs,
            },
        )

    loader = batch_loader(batches_from, sampler, params.loader_workers, device, seed)
    stopped = _stopped_early(history, params.patience, objective)
    try:
        with EpochProgress(enabled=dist.is_main) as progress:
            while state.epoch <= params.epochs and not stopped:
                sampler.set_epoch(state.epoch)
                progress.start_epoch(state.epoch, params.epochs, len(sampler), sampler.position)
                started = time.perf_counter() - state.epoch_seconds
                shown = 0.0  # when the bar last showed the loss: the first step shows it
                loss_sum = torch.zeros((), device=device)
                for ids, lengths, label_ids, targets in _batches(loader, device):
                    loss = opt.step(ids, lengths, label_ids, targets)
                    sampler.position += 1
                    state.step += 1
                    loss_sum += loss.detach() * len(label_ids)  # no device sync per step
                    state.epoch_documents += len(label_ids)
                    state.epoch_tokens += int(lengths.sum())
                    # Mid-epoch only: the epoch's last step is followed by the epoch-end one.
                    mid_epoch = sampler.position < len(sampler)
                    checkpoint_now = mid_epoch and state.step % params.checkpoint_steps == 0
                    # The loss is summed on the device and read every 16 steps (a fixed
                    # cadence, so a resumed run sums it in the same order); the bar reads
                    # it every REFRESH_SECONDS without touching that sum.
                    if checkpoint_now or state.step % 16 == 0:
                        state.epoch_loss += float(loss_sum)
                        loss_sum.zero_()
                        state.epoch_seconds = time.perf_counter() - started
                    if progress.enabled and (due(shown) or not mid_epoch):
                        shown = time.perf_counter()
                        seconds = shown - started
                        progress.update(
                            sampler.position,
                            state.epoch_tokens / seconds,
                            (state.epoch_loss + float(loss_sum)) / state.epoch_documents,
                        )
                    if checkpoint_now:
                        checkpoint()
                state.epoch_loss += float(loss_sum)
                state.epoch_seconds = time.perf_counter() - started
                record = _epoch_record(model, val, objective, device, state, sampler, dist)
                record["learning_rate"] = opt.scheduler.get_last_lr()[0]
                history.append(record)
                _log_epoch(record, params.epochs)
                if _best_epoch(history, objective) == state.epoch:
                    best_state = copy.deepcopy(model.state_dict())
                if dist.is_main and on_epoch is not None:
                    on_epoch(record)
                stopped = _stopped_early(history, params.patience, objective)
                state.epoch += 1
                state.epoch_loss, state.epoch_documents, state.epoch_tokens = 0.0, 0, 0
                state.epoch_seconds = 0.0
                sampler.set_epoch(state.epoch)
                checkpoint()
    finally:
        close_loader(loader)
    if stopped and state.epoch <= params.epochs:
        log.info("early stop: no %s gain for %d epochs", objective.monitor, params.patience)
    calibrated, thresholds, val_confidence = None, None, None
    if isinstance(model, SequenceClassifier) and isinstance(objective, ClassifierObjective):
        model.load_state_dict(best_state)
        if bag_fit is not None:
            bag_fit = choose_rnn_share(model, bag_fit, val, objective.batch_tokens, device)
            log.info(
                "train: the RNN's share of the logits %.1f (val log loss by share: %s)",
                bag_fit.rnn_share,
                figures(bag_fit.val_log_loss_by_rnn_share or {}),
            )
        calibrated = calibrate(model, val, objective.batch_tokens, device)
        if val.multi_label:
            thresholds, val_confidence = label_thresholds(
                model, val, labels, params, objective.batch_tokens, device
            )
        # Val is trained on from here: nothing more is chosen. Not with several labels a
        # document: each label's threshold is a cut of the probabilities val saw, which a
        # bag refitted on more documents would move.
        if bag_fit is not None and not val.multi_label:
            bag_fit = finish_bag(model, bag_fit, train, val)
            log.info("train: bag refitted on %d train + val documents", bag_fit.refit_documents)
        best_state = copy.deepcopy(model.state_dict())
    return FitResult(
        best_state,
        _best_epoch(history, objective),
        history,
        resumed_at,
        bag_fit.summary() if bag_fit is not None else None,
        calibrated,
        thresholds,
        val_confidence,
    )


def label_thresholds(
    model: SequenceClassifier,
    val: TokenSplit,
    labels: list[str],
    params: TrainParams,
    batch_tokens: int,
    device: torch.device,
) -> tuple[list[float], list[int]]:
    """Several labels a document: each label's threshold, the best val F1 of its calibrated
    probability (doclstm/evaluation/multilabel_metrics.py), chosen before val is trained on;
    and the histogram of val's confidence in the lists they give."""
    probs = predict_probabilities(model, val.sequences, batch_tokens, device)
    thresholds = tune_thresholds(val.label_ids > 0, probs, params.threshold_floor)
    chosen = decide(probs, thresholds, params.top_label_fallback)
    log.info(
        "train: each label's threshold, best val F1: %s",
        ", ".join(f"{name} {t:.2f}" for name, t in zip(labels, thresholds, strict=True)),
    )
    return [float(t) for t in thresholds], confidence_histogram(confidence(probs, chosen, True))


def _fit_bag(model: torch.nn.Module, train: TokenSplit, val: TokenSplit) -> BagFit | None:
    """A classifier's token bag fitted before its RNN trains (doclstm/training/bag_fit.py); again
    after a resume, to the same weights, so that the checkpoint's equal ones load over it."""
    if not isinstance(model, SequenceClassifier) or model.bag is None:
        return None
    fitted = fit_bag(model.bag, train, val)
    # The epochs train the RNN alone, so they are judged by it alone: with the fitted bag in
    # the val score, an untrained RNN (epoch 1) can look best and be kept.
    model.expert_weights.copy_(torch.tensor([1.0, 0.0]))
    log.info(
        "train: token bag fitted at C %g (val accuracy by C: %s) in %.1f s",
        fitted.c,
        figures(fitted.val_accuracy_by_c),
        fitted.seconds,
    )
    return fitted


def _batches(loader: DataLoader[Any], device: torch.device) -> Iterator[Batch]:
    for ids, lengths, label_ids, targets in loader:
        # lengths stay on the CPU: pack_padded_sequence wants them there.
        yield (
            ids.to(device, non_blocking=True),
            lengths,
            label_ids.to(device, non_blocking=True),
            targets.to(device, non_blocking=True),
        )


def _epoch_record(
    model: torch.nn.Module,
    val: TokenSplit,
    objective: Objective,
    device: torch.device,
    state: _Progress,
    sampler: BucketBatchSampler,
    dist: Distributed,
) -> dict[str, Any]:
    metrics = objective.evaluate(model, val, device)
    documents = dist.sum(state.epoch_documents)
    tokens = dist.sum(state.epoch_tokens)
    return {
        "epoch": state.epoch,
        "train_loss": dist.sum(state.epoch_loss) / max(documents, 1),
        **metrics,
        "tokens_per_second": tokens / max(state.epoch_seconds, 1e-9),
        "padding_waste": sampler.padding_waste(sampler.global_batches()),
        "seconds": state.epoch_seconds,
    }


def _log_epoch(record: dict[str, Any], epochs: int) -> None:
    metrics = "  ".join(
        f"{k.removeprefix('val_').replace('_', ' ')} {v:.4f}"
        for k, v in record.items()
        if k.startswith("val_")
    )
    log.info(
        "epoch %d/%d  loss %.4f  val %s  %.0f tokens/s  padding %.1f%%",
        record["epoch"],
        epochs,
        record["train_loss"],
        metrics,
        record["tokens_per_second"],
        100 * record["padding_waste"],
    )


def _best_epoch(history: list[dict[str, Any]], objective: Objective) -> int:
    """The first epoch (1-based) with the best monitored value; 0 before any epoch."""
    values = [record[objective.monitor] for record in history]
    if not values:
        return 0
    best = min(values) if objective.lower_is_better else max(values)
    return values.index(best) + 1


def _stopped_early(history: list[dict[str, Any]], patience: int, objective: Objective) -> bool:
    """True once `patience` epochs have passed since the best one."""
    return bool(history) and len(history) - _best_epoch(history, objective) >= patience
