"""teacher: fine-tune the shipped MiniLM on the train split, and compute the transfer set.

With `teacher.enabled`, all-MiniLM-L6-v2 with a classification head
(doclstm/models/teacher_model.py) is fine-tuned on the train documents' windows
for `teacher.epochs` at each of `teacher.learning_rates`; the epoch and the rate
with the best val score (whole documents: the mean of their windows' logits)
are kept, then how a long document's windows combine (`teacher.combine`:
doclstm/training/window_reader.py), on val too. The test split is read once, after, to
report the teacher's test metrics beside its val ones (in the manifest, and in
the teacher's own MLflow run). The fine-tuning is the student's training loop
(doclstm/training/teacher_fit.py): exact resume after a kill from
`models/<run>.teacher.resume/`, DDP under torchrun, bf16 autocast on CUDA.

Then the transfer set (doclstm/training/transfer_set.py): the teacher's logits
for the train documents, their augmented copies and the unlabelled ones,
computed once in resumable shards and cached by the teacher's and the tokens'
fingerprints; `train` distils from it.

Outputs: `models/<train.run_name>.teacher/` (`teacher.safetensors`,
`teacher.json`, `history.json`, `manifest.json`) and `data/transfer/`. Disabled,
each is a manifest saying so. Scoring never loads the teacher. Run:
`doclstm stage teacher`.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from doclstm.config.params import TeacherParams, TrainParams
from doclstm.config.tracking import TrackingTarget, log_metrics
from doclstm.models.config import output_count
from doclstm.models.device import pick_device
from doclstm.models.loss import ClassificationLoss
from doclstm.models.teacher_model import (
    TEACHER_CONFIG,
    TEACHER_WEIGHTS,
    TeacherClassifier,
    save_teacher,
)
from doclstm.models.window_encoder import minilm_identity
from doclstm.sources.splits import UNLABELLED
from doclstm.storage.atomic import atomic_dir, write_json
from doclstm.storage.manifest import StageManifest, file_entry, fresh_manifest, stage_fingerprint
from doclstm.storage.token_data import has_split, load_split
from doclstm.text.tokenizer import TOKENIZER_FILE, load_tokenizer
from doclstm.training.checkpoint import resume_dir
from doclstm.training.distributed import Distributed
from doclstm.training.stage_run import tracked
from doclstm.training.teacher_fit import (
    TeacherObjective,
    autocast_precision,
    loop_params,
    split_windows,
    teacher_metrics,
    windows_split,
)
from doclstm.training.trainer import FitResult, fit
from doclstm.training.transfer_set import (
    TransferResult,
    disabled_transfer_set,
    teacher_transfer_set,
)
from doclstm.training.window_reader import DocumentWindows, choose_combination

log = logging.getLogger(__name__)
HISTORY = "history.json"


@dataclass(frozen=True)
class TeacherResult:
    teacher_dir: Path
    transfer_dir: Path
    enabled: bool
    cached: bool  # the fine-tuned teacher was reused
    transfer_cached: bool = False
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    transfer_documents: dict[str, int] | None = None


def fine_tune_teacher(
    params: TeacherParams,
    train_params: TrainParams,
    seed: int,
    tokens_dir: Path,
    out_dir: Path,
    transfer_dir: Path,
    tracking: TrackingTarget | None = None,
) -> TeacherResult:
    """The fine-tuned teacher and its transfer set from `tokens_dir`; each reused when its
    inputs, settings and code are unchanged."""
    upstream = StageManifest.load(tokens_dir)
    fingerprint = stage_fingerprint(
        "teacher",
        __name__,
        params.fine_tune_settings(),
        seed=seed,
        input=upstream.fingerprint,
        torch=torch.__version__,
        minilm=minilm_identity() if params.enabled else None,
    )
    if not params.enabled:
        cached = fresh_manifest(out_dir, fingerprint) is not None
        if not cached:
            with atomic_dir(out_dir) as tmp:
                StageManifest("teacher", fingerprint, {}, {"enabled": False}).write(tmp)
        if fresh_manifest(transfer_dir, fingerprint) is None:
            disabled_transfer_set(transfer_dir, fingerprint)
        return TeacherResult(out_dir, transfer_dir, enabled=False, cached=cached)
    device = pick_device(params.device)
    teacher = fresh_manifest(out_dir, fingerprint)
    cached = teacher is not None
    if teacher is None:
        teacher = _fine_tune(
            params, train_params, seed, tokens_dir, upstream, out_dir, fingerprint, device, tracking
        )
    else:
        log.info("teacher: tokens and params unchanged, reusing %s", out_dir)
    unlabelled = UNLABELLED if params.unlabelled and has_split(upstream, UNLABELLED) else None
    rank = Distributed.from_env(device.type)
    if rank.is_main:  # under torchrun one process computes the logits; the others wait
        transfer = teacher_transfer_set(
            params, seed, tokens_dir, upstream, out_dir, teacher, transfer_dir, device, unlabelled
        )
    rank.barrier()
    if not rank.is_main:
        written = StageManifest.load(transfer_dir).summary["documents"]
        transfer = TransferResult(transfer_dir, written, 0, cached=True)
    return TeacherResult(
        out_dir,
        transfer_dir,
        enabled=True,
        cached=cached,
        transfer_cached=transfer.cached,
        val_accuracy=teacher.summary["val"]["accuracy"],
        test_accuracy=teacher.summary["test"]["accuracy"],
        transfer_documents=transfer.documents,
    )


def _fine_tune(
    params: TeacherParams,
    train_params: TrainParams,
    seed: int,
    tokens_dir: Path,
    upstream: StageManifest,
    out_dir: Path,
    fingerprint: str,
    device: torch.device,
    tracking: TrackingTarget | None,
) -> StageManifest:
    started = time.perf_counter()
    tokenizer = load_tokenizer(tokens_dir / TOKENIZER_FILE)
    labels: list[str] = upstream.summary["labels"]
    multi = upstream.summary.get("task") == "multi"  # several labels a document
    outputs = output_count(len(labels), multi)
    train = load_split(tokens_dir, "train", upstream)
    val = load_split(tokens_dir, "val", upstream)
    train_windows = split_windows(tokenizer, train, params)
    val_windows = split_windows(tokenizer, val, params)
    learn = windows_split(train_windows, train.label_ids, train.doc_ids, params.train_windows)
    judge = windows_split(val_windows, val.label_ids, val.doc_ids)
    rank = Distributed.from_env(device.type)
    precision = autocast_precision(params.precision, device)
    objective = TeacherObjective(
        ClassificationLoss(outputs).to(device),
        val_windows.owner,
        val.label_ids,
        labels,
        params.batch_size * params.window_tokens * 4,
        params.monitor,
        params.monitor == "val_log_loss",
        multi,
    )
    log.info(
        "teacher: MiniLM fine-tuned on %d windows of %d train documents, judged on %d val "
        "documents (%d windows) on %s, %s",
        len(learn),
        len(train),
        len(val),
        len(judge),
        device,
        precision,
    )
    settings = {"teacher": params.fine_tune_settings()}
    with tracked(tracking, fingerprint, settings, rank.is_main, out_dir.name) as run:
        tried: dict[float, FitResult] = {}
        model = None
        before: dict[str, float] = {}
        for i, rate in enumerate(params.learning_rates):
            torch.manual_seed(seed)
            model = TeacherClassifier(outputs, params.dropout)
            if i == 0:  # MiniLM with an untrained head: where fine-tuning starts from
                before = objective.evaluate(model.to(device), judge, device)
            loop = loop_params(params, rate, train_params.loader_workers).model_copy(
                update={"precision": precision}
            )

            def on_epoch(record: dict[str, Any], rate: float = rate) -> None:
                if run is not None:
                    step = {k: v for k, v in record.items() if k != "epoch"}
                    run.log_epoch(
                        {
                            "epoch": record["epoch"],
                            **{f"lr_{rate:g}_{k}": v for k, v in step.items()},
                        }
                    )

            tried[rate] = fit(
                model,
                learn,
                judge,
                labels,
                loop,
                seed,
                device,
                checkpoint_dir=resume_dir(out_dir) / f"rate-{i}",
                fingerprint=f"{fingerprint}:{rate!r}",
                on_epoch=on_epoch,
                objective=objective,
            )
        assert model is not None
        rate = best_rate(tried, params.monitor)
        chosen = tried[rate]
        model.load_state_dict(chosen.best_state)
        combination = choose_combination(
            model,
            DocumentWindows(train_windows.ids, train_windows.owner, train.label_ids),
            DocumentWindows(val_windows.ids, val_windows.owner, val.label_ids),
            labels,
            params,
            seed,
            device,
        )
        val_metrics, thresholds = teacher_metrics(
            objective, model, judge, val_windows.owner, val.label_ids, device
        )
        # Everything is chosen: the test split is read once, to report, never to choose.
        test = load_split(tokens_dir, "test", upstream)
        test_windows = split_windows(tokenizer, test, params)
        test_metrics, _ = teacher_metrics(
            objective,
            model,
            windows_split(test_windows, test.label_ids, test.doc_ids),
            test_windows.owner,
            test.label_ids,
            device,
            thresholds,  # several labels a document: each label's, tuned on val
        )
        if run is not None:
            values = {f"val_{k}": v for k, v in val_metrics.items()}
            values |= {f"test_{k}": v for k, v in test_metrics.items()}
            log_metrics(run.client, run.run_id, values)
        if not rank.is_main:
            rank.barrier()
            return StageManifest.load(out_dir)
        with atomic_dir(out_dir) as tmp:
            config = {
                "num_outputs": outputs,
                "dropout": params.dropout,
                "labels": labels,
                "window_tokens": params.window_tokens,
                "stride": params.stride,
                "learning_rate": rate,
                "best_epoch": chosen.best_epoch,
                "combine": combination.chosen,
                "multi_label": multi,
                **minilm_identity(),
            }
            if combination.chosen == "recurrence":
                config["reader_hidden"] = params.reader_hidden
            save_teacher(tmp, model, config)
            write_json(tmp / HISTORY, {f"{r:g}": result.history for r, result in tried.items()})
            summary = {
                "enabled": True,
                "learning_rate": rate,
                "best_epoch": chosen.best_epoch,
                f"{params.monitor}_by_learning_rate": {
                    f"{r:g}": _best_value(result, params.monitor) for r, result in tried.items()
                },
                "combine": combination.chosen,
                "val_by_combination": combination.val,
                "reader_epoch": combination.reader_epoch,
                "val": val_metrics,
                "test": test_metrics,
                "val_accuracy_before": before["val_accuracy"],
                "train_windows": len(learn),
                "seconds": time.perf_counter() - started,
                "device": str(device),
                "precision": precision,
                "resumed_at_step": chosen.resumed_at_step,
            }
            if run is not None:
                summary |= {"mlflow_run_id": run.run_id, "mlflow_tracking_uri": run.uri}
            files = {n: file_entry(tmp / n) for n in (TEACHER_WEIGHTS, TEACHER_CONFIG, HISTORY)}
            manifest = StageManifest("teacher", fingerprint, files, summary)
            manifest.write(tmp)
        shutil.rmtree(resume_dir(out_dir), ignore_errors=True)
    rank.barrier()
    log.info(
        "teacher: learning rate %g, epoch %d, %s of windows: val accuracy %.4f (test %.4f, "
        "reported only)",
        rate,
        chosen.best_epoch,
        combination.chosen,
        val_metrics["accuracy"],
        test_metrics["accuracy"],
    )
    return manifest


def _best_value(result: FitResult, monitor: str) -> float:
    return float(result.history[result.best_epoch - 1][monitor])


def best_rate(tried: dict[float, FitResult], monitor: str) -> float:
    """The learning rate whose best epoch scored best on val (ties: the first tried)."""
    sign = 1.0 if monitor == "val_log_loss" else -1.0
    return min(tried, key=lambda rate: sign * _best_value(tried[rate], monitor))
