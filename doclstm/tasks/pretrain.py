"""pretrain: train the classifier's encoder as a language model on text without labels.

Reads the tokens stage's `train` split and its `unlabelled` split (e.g.
aclImdb's `unsup`), never `val` or `test`: the text a pipeline may learn
from without labels. A fixed share of those documents (by a hash of
doc_id, `pretrain.held_out_fraction`) is held out to measure perplexity
after every epoch. Training is the classifier's loop (doclstm/training/trainer.py:
bucketing, exact resume from `models/<run>.encoder.resume/`, DDP, mixed
precision) with the language-model objective (doclstm/models/language_model.py).

Output (`models/<train.run_name>.encoder/`): `encoder.safetensors`,
`encoder.json` (doclstm/models/encoder_file.py), `history.json` (per epoch: held-out
loss and perplexity) and `manifest.json`, whose summary has the held-out
perplexity before and after. With a tracking target, an MLflow run of its
own logs every epoch. `pretrain.enabled: false` writes only a manifest
saying so, which `train` then ignores. Run: `doclstm stage pretrain`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from doclstm.config.params import PretrainParams, TrainParams
from doclstm.config.tracking import TrackingTarget
from doclstm.errors import DoclstmError
from doclstm.models.config import ModelConfig
from doclstm.models.device import pick_device
from doclstm.models.encoder_file import ENCODER_CONFIG, ENCODER_WEIGHTS, save_encoder
from doclstm.models.language_model import EncoderLanguageModel, predicted_tokens
from doclstm.models.token_vectors import start_embedding
from doclstm.sources.splits import UNLABELLED, unit_hash
from doclstm.storage.atomic import atomic_dir, write_json
from doclstm.storage.manifest import (
    FileEntry,
    StageManifest,
    file_entry,
    fresh_manifest,
    stage_fingerprint,
)
from doclstm.storage.token_data import TokenSplit, concat_splits, has_split, load_split
from doclstm.text.tokenizer import TOKENIZER_FILE
from doclstm.training.distributed import Distributed
from doclstm.training.objectives import LanguageModelObjective
from doclstm.training.stage_run import fit_stage
from doclstm.training.trainer import FitResult, fit

log = logging.getLogger(__name__)
HISTORY = "history.json"


@dataclass(frozen=True)
class PretrainResult:
    encoder_dir: Path
    enabled: bool
    cached: bool
    initial_perplexity: float | None = None
    val_perplexity: float | None = None
    best_epoch: int | None = None


def pretrain_encoder(
    params: PretrainParams,
    train_params: TrainParams,
    seed: int,
    tokens_dir: Path,
    out_dir: Path,
    tracking: TrackingTarget | None = None,
) -> PretrainResult:
    """Pretrain `train_params.model`'s encoder on `tokens_dir`; skipped when unchanged."""
    upstream = StageManifest.load(tokens_dir)
    fingerprint = stage_fingerprint(
        "pretrain",
        __name__,
        params.result_settings(),
        model=train_params.model.encoder_settings(),
        seed=seed,
        input=upstream.fingerprint,
        torch=torch.__version__,
    )
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:
        log.info("pretrain: tokens and params unchanged, reusing %s", out_dir)
        return _result(out_dir, cached, cached=True)
    if not params.enabled:
        with atomic_dir(out_dir) as tmp:
            manifest = StageManifest("pretrain", fingerprint, {}, {"enabled": False})
            manifest.write(tmp)
        return _result(out_dir, manifest, cached=False)

    learn, held_out = pretraining_text(tokens_dir, upstream, params.held_out_fraction)
    torch.manual_seed(seed)
    model = language_model(params, train_params, upstream.summary["vocab_size"], learn)
    config = model.config
    device = pick_device(train_params.device)
    rank = Distributed.from_env(device.type)
    embedding_init = start_embedding(model, config.embedding_init, tokens_dir, device, rank.is_main)
    loop = _loop_params(params, train_params)
    objective = language_model_objective(params)
    initial = objective.evaluate(model, held_out, device)["val_perplexity"]
    held_tokens = predicted_tokens(torch.as_tensor(held_out.lengths), len(model.directions))
    log.info(
        "pretrain: %d documents (%d tokens), %d held out; held-out perplexity %.1f untrained",
        len(learn),
        len(learn.tokens),
        len(held_out),
        initial,
    )
    tokenizer_sha = upstream.files[TOKENIZER_FILE].sha256

    def write(tmp: Path, result: FitResult) -> tuple[dict[str, FileEntry], dict[str, Any]]:
        model.load_state_dict(result.best_state)
        save_encoder(tmp, model.encoder_state(), config, tokenizer_sha)
        write_json(tmp / HISTORY, result.history)
        summary = {
            "enabled": True,
            "best_epoch": result.best_epoch,
            "initial_val_perplexity": initial,
            "val_perplexity": result.history[result.best_epoch - 1]["val_perplexity"],
            "documents": len(learn),
            "tokens": len(learn.tokens),
            "held_out_documents": len(held_out),
            "held_out_tokens": held_tokens,
            "seconds": sum(r["seconds"] for r in result.history),
            "device": str(device),
            "tokens_fingerprint": upstream.fingerprint,
            "tokenizer_sha256": tokenizer_sha,
            "resumed_at_step": result.resumed_at_step,
            **embedding_init,
        }
        files = (ENCODER_WEIGHTS, ENCODER_CONFIG, HISTORY)
        return {name: file_entry(tmp / name) for name in files}, summary

    manifest = fit_stage(
        "pretrain",
        out_dir,
        fingerprint,
        {"pretrain": params.result_settings(), "model": train_params.model.encoder_settings()},
        tracking,
        rank,
        lambda checkpoint_dir, on_epoch: fit(
            model,
            learn,
            held_out,
            [],
            loop,
            seed,
            device,
            checkpoint_dir=checkpoint_dir,
            fingerprint=fingerprint,
            on_epoch=on_epoch,
            objective=objective,
        ),
        write,
    )
    return _result(out_dir, manifest, cached=False)


def pretraining_text(
    tokens_dir: Path, upstream: StageManifest, held_out_fraction: float
) -> tuple[TokenSplit, TokenSplit]:
    """Train and unlabelled documents, split into what the model learns from and what is
    held out for perplexity; val and test are never read."""
    parts = [load_split(tokens_dir, "train", upstream)]
    if has_split(upstream, UNLABELLED):
        parts.append(load_split(tokens_dir, UNLABELLED, upstream))
    text = concat_splits(parts)
    held = np.array([unit_hash(d, "pretrain") < held_out_fraction for d in text.doc_ids])
    if held.all() or not held.any():
        raise DoclstmError(
            f"pretrain.held_out_fraction {held_out_fraction} holds out {int(held.sum())} of "
            f"{len(held)} documents; both parts need some: change it"
        )
    return text.subset(np.flatnonzero(~held)), text.subset(np.flatnonzero(held))


def language_model(
    params: PretrainParams, train_params: TrainParams, vocab_size: int, learn: TokenSplit
) -> EncoderLanguageModel:
    """A new language model over `train_params.model`'s encoder, sampling words as often
    as `learn` has them."""
    config = ModelConfig.build(vocab_size, 2, train_params.model)
    counts = np.bincount(learn.tokens, minlength=vocab_size)
    return EncoderLanguageModel(config, counts, params.dropout)


def language_model_objective(params: PretrainParams) -> LanguageModelObjective:
    """The training objective; its `evaluate` is the held-out perplexity (full softmax)."""
    return LanguageModelObjective(
        params.bptt, params.samples, params.batch_tokens * 4, params.max_batch_size
    )


def _loop_params(params: PretrainParams, train_params: TrainParams) -> TrainParams:
    """The trainer's settings for pretraining: the classifier's, with pretrain's own budget."""
    return train_params.model_copy(
        update={
            "epochs": params.epochs,
            "learning_rate": params.learning_rate,
            "batch_tokens": params.batch_tokens,
            "max_batch_size": params.max_batch_size,
            "min_steps_per_epoch": 0,  # pretraining text is plentiful; its own budget rules
            "patience": params.patience,
            "checkpoint_steps": params.checkpoint_steps,
            "layer_lr_decay": 1.0,
            "unfreeze": "all",
        }
    )


def _result(out_dir: Path, manifest: StageManifest, cached: bool) -> PretrainResult:
    s = manifest.summary
    if not s.get("enabled"):
        return PretrainResult(out_dir, False, cached)
    return PretrainResult(
        out_dir, True, cached, s["initial_val_perplexity"], s["val_perplexity"], s["best_epoch"]
    )
