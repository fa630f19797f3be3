"""A pretrained encoder folder, and starting a classifier from it with every weight accounted for.

`encoder.safetensors` holds the `embedding.*` and `rnn.*` tensors of the
classifier's recurrent encoder (doclstm/models/recurrent_encoder.py); `encoder.json`
the encoder's shape and the sha256 of the tokenizer whose ids it learned.
`load_encoder` refuses a folder whose shape or tokenizer differs from the
classifier's, and fails unless every encoder tensor of the classifier is loaded
and every tensor in the file is used: nothing is skipped silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from doclstm.errors import DoclstmError
from doclstm.models.config import ModelConfig
from doclstm.models.model import SequenceClassifier
from doclstm.storage.atomic import write_json

ENCODER_WEIGHTS = "encoder.safetensors"
ENCODER_CONFIG = "encoder.json"
# What the encoder's tensors depend on; the rest of ModelConfig is the classifier's own.
SHAPE_FIELDS = ("vocab_size", "embedding_dim", "hidden_size", "num_layers", "bidirectional", "cell")


def save_encoder(
    out_dir: Path, state: dict[str, torch.Tensor], config: ModelConfig, tokenizer_sha256: str
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in state.items()}, str(out_dir / ENCODER_WEIGHTS)
    )
    shape = {k: getattr(config, k) for k in SHAPE_FIELDS}
    write_json(out_dir / ENCODER_CONFIG, {"shape": shape, "tokenizer_sha256": tokenizer_sha256})


def load_encoder(
    model: SequenceClassifier, config: ModelConfig, encoder_dir: Path, tokenizer_sha256: str
) -> list[str]:
    """Copy the encoder in `encoder_dir` into `model`'s recurrent encoder; returns the
    names loaded."""
    if model.encoder is None:
        raise DoclstmError(
            f"{encoder_dir}: a model of MiniLM windows has no recurrent encoder to start "
            "from it; leave train.init_from empty or set train.model.chunk_encoder: lstm"
        )
    meta: dict[str, Any] = json.loads((encoder_dir / ENCODER_CONFIG).read_text(encoding="utf-8"))
    mine = {k: getattr(config, k) for k in SHAPE_FIELDS}
    if meta["shape"] != mine:
        differ = {
            k: (meta["shape"].get(k), v) for k, v in mine.items() if meta["shape"].get(k) != v
        }
        raise DoclstmError(
            f"{encoder_dir}: pretrained for another encoder shape (pretrained, this model): "
            f"{differ}; pretrain again with this train.model"
        )
    if meta["tokenizer_sha256"] != tokenizer_sha256:
        raise DoclstmError(
            f"{encoder_dir}: pretrained on another tokenizer's ids; pretrain again on these tokens"
        )
    state = load_file(str(encoder_dir / ENCODER_WEIGHTS))
    own = model.encoder.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise DoclstmError(
            f"{encoder_dir}: does not fit the model: missing {missing}, unexpected "
            f"{unexpected}, other shapes {wrong}"
        )
    model.encoder.load_state_dict(state, strict=True)
    return sorted(state)
