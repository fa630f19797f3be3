"""train: fit a recurrent classifier on the token shards, resumably.

Output contract (`models/<train.run_name>/`): `model.safetensors`,
`config.json`, `tokenizer.json`, `labels.json` (a loadable model folder,
see doclstm.models.model_folder), `history.json` (per-epoch metrics),
`profile.json` (the train split's profile, doclstm/text/profile.py: what
scoring compares its documents with) and `manifest.json`. The best epoch by
`train.monitor` is what is saved.

While training, the resume checkpoint lives beside the model folder in
`models/<run_name>.resume/` (the model folder itself appears whole, at the
end, or not at all). A run that is killed and started again with the same
data and settings carries on from the last checkpoint; the folder is
removed once the model is written. With a tracking target, per-epoch
metrics go live to an MLflow run (reopened on resume) whose id the
manifest keeps, so `register` adds the test metrics and model to it.

Several GPUs: `torchrun --nproc_per_node N -m doclstm.cli stage train`;
rank 0 writes everything. Run: `doclstm stage train`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from doclstm.config.params import TokenizeParams, TrainParams
from doclstm.config.tracking import TrackingTarget
from doclstm.errors import DoclstmError
from doclstm.models.config import ModelConfig
from doclstm.models.cuts import documents_over_max_chunks
from doclstm.models.device import pick_device
from doclstm.models.encoder_file import load_encoder
from doclstm.models.model import SequenceClassifier
from doclstm.models.model_folder import MODEL_FILES, save_model_dir
from doclstm.models.token_vectors import start_embedding
from doclstm.models.window_encoder import MiniLMWindows
from doclstm.storage.atomic import write_json
from doclstm.storage.manifest import (
    FileEntry,
    StageManifest,
    file_entry,
    fresh_manifest,
    stage_fingerprint,
)
from doclstm.storage.token_data import PROFILE_FILE, load_split
from doclstm.text.profile import split_profile
from doclstm.text.tokenizer import TOKENIZER_FILE, load_tokenizer
from doclstm.training.distributed import Distributed
from doclstm.training.stage_run import fit_stage
from doclstm.training.trainer import EpochCallback, FitResult, fit
from doclstm.training.transfer_set import load_transfer_set
from doclstm.training.window_cache import window_cache

log = logging.getLogger(__name__)
HISTORY = "history.json"


@dataclass(frozen=True)
class TrainResult:
    model_dir: Path
    best_epoch: int
    val_accuracy: float
    val_macro_f1: float
    seconds: float
    cached: bool
    resumed_at_step: int | None = None


def train_model(
    params: TrainParams,
    seed: int,
    tokens_dir: Path,
    out_dir: Path,
    tracking: TrackingTarget | None = None,
    encoder_dir: Path | None = None,
    transfer_dir: Path | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train on `tokens_dir` train/val splits; skipped when data, params and seed are unchanged.
    With `encoder_dir` (a pretrain stage output), the embedding and RNN start from it; with
    `transfer_dir` (the teacher stage's transfer set), the model distils the teacher.
    `on_epoch` gets each epoch's record (a tune trial's pruner: it may stop it by raising)."""
    upstream = StageManifest.load(tokens_dir)
    encoder = _pretrained(encoder_dir)
    loaded = load_transfer_set(transfer_dir, upstream.fingerprint) if transfer_dir else None
    transfer, transfer_manifest = loaded if loaded else (None, None)
    fingerprint = stage_fingerprint(
        "train",
        __name__,
        params.result_settings(distilled=transfer is not None),
        seed=seed,
        input=upstream.fingerprint,
        torch=torch.__version__,
        encoder=encoder.fingerprint if encoder else None,
        transfer=transfer_manifest.fingerprint if transfer_manifest else None,
    )
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:
        log.info("train: tokens and params unchanged, reusing %s", out_dir)
        return _result(out_dir, cached, cached=True)

    labels: list[str] = upstream.summary["labels"]
    train = load_split(tokens_dir, "train", upstream)
    val = load_split(tokens_dir, "val", upstream)
    device = pick_device(params.device)
    config = ModelConfig.for_tokens(upstream.summary, params.model)
    torch.manual_seed(seed)
    model = SequenceClassifier(config)
    if model.bag is not None:  # it reads words as this tokenizer splits them
        model.bag.set_vocabulary(load_tokenizer(tokens_dir / TOKENIZER_FILE))
    initialized: list[str] = []
    rank = Distributed.from_env(device.type)
    # A pretrained encoder brings its own embedding (pretrain started it from the vectors).
    embedding_init = start_embedding(
        model, config.embedding_init, tokens_dir, device, encoder is None and rank.is_main
    )
    if encoder_dir is not None and encoder is not None:
        initialized = load_encoder(
            model, config, encoder_dir, upstream.files[TOKENIZER_FILE].sha256
        )
        log.info("train: %d encoder tensors from %s", len(initialized), encoder_dir)
    windows = None
    if config.chunk_encoder == "minilm":
        model.window_encoder = MiniLMWindows(load_tokenizer(tokens_dir / TOKENIZER_FILE))
        windows = window_cache(tokens_dir, config, model.window_encoder, device)
    log.info(
        "train: %d train / %d val documents on %s; %s",
        len(train),
        len(val),
        device,
        config.describe(),
    )

    def write(tmp: Path, result: FitResult) -> tuple[dict[str, FileEntry], dict[str, Any]]:
        best = result.history[result.best_epoch - 1]
        tokenize_params = TokenizeParams.model_validate(upstream.summary["params"])
        save_model_dir(
            tmp,
            result.best_state,
            config,
            labels,
            tokens_dir / TOKENIZER_FILE,
            tokenize_params.max_tokens,
            tokenize_params.truncation,
            result.thresholds,
            params.top_label_fallback,
        )
        write_json(tmp / HISTORY, result.history)
        profile = split_profile(
            tokens_dir, "train", upstream, load_tokenizer(tokens_dir / TOKENIZER_FILE)
        )
        if result.val_confidence is not None:  # several labels a document (drift.py)
            profile["confidence_histogram"] = result.val_confidence
        write_json(tmp / PROFILE_FILE, profile)
        summary: dict[str, Any] = {
            "best_epoch": result.best_epoch,
            "val_accuracy": best["val_accuracy"],
            "val_macro_f1": best["val_macro_f1"],
            "seconds": sum(r["seconds"] for r in result.history),
            "device": str(device),
            "processes": rank.world_size,
            "tokens_fingerprint": upstream.fingerprint,
            "seed": seed,
            "resumed_at_step": result.resumed_at_step,
            "bag": result.bag,
            "calibration": result.calibration,
            **({"thresholds": result.thresholds} if result.thresholds is not None else {}),
            "distillation": _distillation(params, transfer_dir, transfer_manifest),
            "train_documents_over_max_chunks": documents_over_max_chunks(config, train.lengths),
            "initialized_from": str(encoder_dir) if initialized else None,
            "initialized_tensors": initialized,
            **encoder_lineage(encoder),
            **embedding_init,
        }
        if windows is not None and model.window_encoder is not None:
            summary["window_vectors"] = {
                "cache": str(windows.out_dir),
                "computed_before_training": windows.computed,
                "computed_in_training": model.window_encoder.encoded - windows.computed,
            }
        files = (*MODEL_FILES, HISTORY, PROFILE_FILE)
        return {name: file_entry(tmp / name) for name in files}, summary

    manifest = fit_stage(
        "train",
        out_dir,
        fingerprint,
        {"train": params.result_settings()},
        tracking,
        rank,
        lambda checkpoint_dir, on_epoch: fit(
            model,
            train,
            val,
            labels,
            params,
            seed,
            device,
            checkpoint_dir=checkpoint_dir,
            fingerprint=fingerprint,
            on_epoch=on_epoch,
            transfer=transfer,
        ),
        write,
        on_epoch,
    )
    return _result(out_dir, manifest, cached=False)


def _distillation(
    params: TrainParams, transfer_dir: Path | None, manifest: StageManifest | None
) -> dict[str, Any] | None:
    """What a distilled model's manifest (and so its model card) records of its teacher."""
    if manifest is None:
        return None
    summary = manifest.summary
    return {
        "transfer_set": str(transfer_dir),
        "transfer_fingerprint": manifest.fingerprint,
        "teacher_fingerprint": summary["teacher_fingerprint"],
        "teacher": summary["teacher"],
        "documents": summary["documents"],
        **params.distill.model_dump(mode="json"),
    }


def _pretrained(encoder_dir: Path | None) -> StageManifest | None:
    """The manifest of the encoder folder `train` must start from, if any."""
    if encoder_dir is None:
        return None
    manifest = StageManifest.load(encoder_dir)
    if not manifest.summary.get("enabled"):
        raise DoclstmError(
            f"{encoder_dir}: written with pretrain.enabled false, so it holds no encoder; "
            "run the pretrain stage with it enabled, or clear train.init_from"
        )
    if problems := manifest.problems(encoder_dir):
        raise DoclstmError(f"pretrained encoder damaged: {'; '.join(problems)}; pretrain again")
    return manifest


def encoder_lineage(encoder: StageManifest | None) -> dict[str, Any]:
    """What a model's manifest records of the pretrained encoder it started from, for
    register to tag its MLflow run with (doclstm/registry/lineage.py); nothing from scratch."""
    if encoder is None:
        return {}
    summary = encoder.summary
    return {
        "encoder_fingerprint": encoder.fingerprint,
        "encoder_val_perplexity": summary["val_perplexity"],
        "encoder_mlflow_run_id": summary.get("mlflow_run_id"),
        "encoder_mlflow_tracking_uri": summary.get("mlflow_tracking_uri"),
    }


def _result(out_dir: Path, manifest: StageManifest, cached: bool) -> TrainResult:
    s = manifest.summary
    return TrainResult(
        out_dir,
        s["best_epoch"],
        s["val_accuracy"],
        s["val_macro_f1"],
        s["seconds"],
        cached,
        s.get("resumed_at_step"),
    )
