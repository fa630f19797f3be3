"""A model folder: everything needed to rebuild the model, checked against itself on load.

model.safetensors  weights (never pickled)
config.json        ModelConfig plus the truncation settings used in training
tokenizer.json     the tokenizer the ids came from
labels.json        label_id -> label name
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from doclstm.atomic import write_json
from doclstm.errors import DoclstmError
from doclstm.model import ModelConfig, SequenceClassifier
from doclstm.tokenizer import load_tokenizer
from doclstm.window_encoder import MiniLMWindows

WEIGHTS, CONFIG, TOKENIZER, LABELS = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "labels.json",
)
MODEL_FILES = (WEIGHTS, CONFIG, TOKENIZER, LABELS)


@dataclass(frozen=True)
class LoadedModel:
    model: SequenceClassifier
    tokenizer: Tokenizer
    labels: list[str]
    max_tokens: int
    truncation: str


def save_model_dir(
    out_dir: Path,
    state: dict[str, torch.Tensor],
    config: ModelConfig,
    labels: list[str],
    tokenizer_file: Path,
    max_tokens: int,
    truncation: str,
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(out_dir / WEIGHTS))
    write_json(
        out_dir / CONFIG,
        {"model": config.to_dict(), "max_tokens": max_tokens, "truncation": truncation},
    )
    shutil.copyfile(tokenizer_file, out_dir / TOKENIZER)
    write_json(out_dir / LABELS, labels)


def load_model_dir(model_dir: Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a model folder, checking that weights, config, tokenizer and labels agree."""
    for name in MODEL_FILES:
        if not (model_dir / name).is_file():
            raise DoclstmError(f"{model_dir / name}: missing; not a doclstm model folder")
    raw: dict[str, Any] = json.loads((model_dir / CONFIG).read_text(encoding="utf-8"))
    config = ModelConfig.from_dict(raw["model"])
    labels = json.loads((model_dir / LABELS).read_text(encoding="utf-8"))
    tokenizer = load_tokenizer(model_dir / TOKENIZER)
    if len(labels) != config.num_labels:
        raise DoclstmError(
            f"{model_dir}: labels.json has {len(labels)} labels, config.json {config.num_labels}"
        )
    if tokenizer.get_vocab_size() != config.vocab_size:
        raise DoclstmError(
            f"{model_dir}: tokenizer has {tokenizer.get_vocab_size()} tokens, "
            f"config.json expects {config.vocab_size}"
        )
    model = SequenceClassifier(config)
    try:
        model.load_state_dict(load_file(str(model_dir / WEIGHTS)), strict=True)
    except RuntimeError as exc:
        raise DoclstmError(f"{model_dir / WEIGHTS}: weights do not fit config.json: {exc}") from exc
    if config.chunk_encoder == "minilm":  # frozen, from the installed package
        model.window_encoder = MiniLMWindows(tokenizer)
    model.to(device).eval()
    return LoadedModel(model, tokenizer, labels, int(raw["max_tokens"]), str(raw["truncation"]))
