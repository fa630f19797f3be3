"""train: fit a recurrent classifier on the token shards.

Output contract (`models/<train.run_name>/`): `model.safetensors`,
`config.json`, `tokenizer.json`, `labels.json` (a loadable model folder,
see doclstm.checkpoint), `history.json` (per-epoch metrics) and
`manifest.json`. The best epoch by validation macro-F1 is what is saved.

Run: `doclstm stage train`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from prefect import task

from doclstm.atomic import atomic_dir, write_json
from doclstm.checkpoint import MODEL_FILES, save_model_dir
from doclstm.device import pick_device
from doclstm.manifest import StageManifest, file_entry, fresh_manifest, stage_fingerprint
from doclstm.model import ModelConfig, SequenceClassifier
from doclstm.params import TokenizeParams, TrainParams
from doclstm.token_data import load_split
from doclstm.trainer import fit

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


def train_model(params: TrainParams, seed: int, tokens_dir: Path, out_dir: Path) -> TrainResult:
    """Train on `tokens_dir` train/val splits; skipped when data, params and seed are unchanged."""
    upstream = StageManifest.load(tokens_dir)
    fingerprint = stage_fingerprint(
        "train", params, seed=seed, input=upstream.fingerprint, torch=torch.__version__
    )
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:
        log.info("train: tokens and params unchanged, reusing %s", out_dir)
        return _result(out_dir, cached, cached=True)

    labels: list[str] = upstream.summary["labels"]
    train = load_split(tokens_dir, "train", upstream)
    val = load_split(tokens_dir, "val", upstream)
    device = pick_device(params.device)
    config = ModelConfig(
        vocab_size=upstream.summary["vocab_size"],
        num_labels=len(labels),
        **params.model.model_dump(),
    )
    torch.manual_seed(seed)
    model = SequenceClassifier(config)
    log.info("train: %d train / %d val documents on %s, %s", len(train), len(val), device, config)
    result = fit(model, train, val, labels, params, seed, device)
    best = result.history[result.best_epoch - 1]
    tokenize_params = TokenizeParams.model_validate(upstream.summary["params"])
    with atomic_dir(out_dir) as tmp:
        save_model_dir(
            tmp,
            result.best_state,
            config,
            labels,
            tokens_dir / "tokenizer.json",
            tokenize_params.max_tokens,
            tokenize_params.truncation,
        )
        write_json(tmp / HISTORY, result.history)
        files = {name: file_entry(tmp / name) for name in (*MODEL_FILES, HISTORY)}
        summary = {
            "best_epoch": result.best_epoch,
            "val_accuracy": best["val_accuracy"],
            "val_macro_f1": best["val_macro_f1"],
            "seconds": sum(r["seconds"] for r in result.history),
            "device": str(device),
            "tokens_fingerprint": upstream.fingerprint,
            "seed": seed,
        }
        manifest = StageManifest("train", fingerprint, files, summary)
        manifest.write(tmp)
    return _result(out_dir, manifest, cached=False)


train = task(name="train", retries=0)(train_model)


def _result(out_dir: Path, manifest: StageManifest, cached: bool) -> TrainResult:
    s = manifest.summary
    return TrainResult(
        out_dir, s["best_epoch"], s["val_accuracy"], s["val_macro_f1"], s["seconds"], cached
    )
