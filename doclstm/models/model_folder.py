"""A model folder: everything needed to rebuild the model, checked against itself on load.

model.safetensors  weights (never pickled)
config.json        ModelConfig plus the truncation settings used in training
tokenizer.json     the tokenizer the ids came from
labels.json        label_id -> label name
manifest.json      the train stage's manifest: the sha256 of each file above

Every reader verifies the four files against the manifest before it trusts
them (`verify_model_dir`, called by `load_model_dir`): a truncated or edited
file is one line naming it and what to do, never a deserialisation traceback.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from doclstm.errors import DoclstmError
from doclstm.models.config import ModelConfig
from doclstm.models.model import SequenceClassifier, legacy_state
from doclstm.models.window_encoder import MiniLMWindows
from doclstm.storage.atomic import write_json
from doclstm.storage.fingerprint import sha256_file
from doclstm.storage.manifest import MANIFEST_NAME, StageManifest
from doclstm.storage.token_data import LABELS_FILE, PROFILE_FILE
from doclstm.text.tokenizer import TOKENIZER_FILE, load_tokenizer

WEIGHTS, CONFIG = "model.safetensors", "config.json"
MODEL_FILES = (WEIGHTS, CONFIG, TOKENIZER_FILE, LABELS_FILE)
# Everything a copy of a model folder must carry: the files and what they are checked against.
VERIFIED_MODEL_FILES = (*MODEL_FILES, MANIFEST_NAME)
# What a copy carries when the folder has it: the training data's profile, which scoring
# compares its documents with (models trained before it have none).
OPTIONAL_MODEL_FILES = (PROFILE_FILE,)
COPIED_MODEL_FILES = (*VERIFIED_MODEL_FILES, *OPTIONAL_MODEL_FILES)  # a registered copy
RETRAIN = "rerun `doclstm stage train` to write the model folder again"


@dataclass(frozen=True)
class LoadedModel:
    model: SequenceClassifier
    tokenizer: Tokenizer
    labels: list[str]
    max_tokens: int
    truncation: str
    # several labels a document: each label's decision threshold, and whether a document
    # that no label passes gets its most probable one
    thresholds: list[float] | None = None
    top_label_fallback: bool = True

    @property
    def multi_label(self) -> bool:
        return self.thresholds is not None


def save_model_dir(
    out_dir: Path,
    state: dict[str, torch.Tensor],
    config: ModelConfig,
    labels: list[str],
    tokenizer_file: Path,
    max_tokens: int,
    truncation: str,
    thresholds: list[float] | None = None,
    top_label_fallback: bool = True,
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(out_dir / WEIGHTS))
    decisions = (
        {}
        if thresholds is None
        else {"thresholds": thresholds, "top_label_fallback": top_label_fallback}
    )
    write_json(
        out_dir / CONFIG,
        {"model": config.to_dict(), "max_tokens": max_tokens, "truncation": truncation} | decisions,
    )
    shutil.copyfile(tokenizer_file, out_dir / TOKENIZER_FILE)
    write_json(out_dir / LABELS_FILE, labels)


def verify_model_dir(
    model_dir: Path, remedy: str = RETRAIN, shown_as: str | None = None
) -> StageManifest:
    """The folder's manifest, once weights, config, tokenizer and labels match its sha256s.

    Messages name each file under `shown_as` (a registry URI, say) when given."""
    where = shown_as or str(model_dir)
    for name in VERIFIED_MODEL_FILES:
        if not (model_dir / name).is_file():
            raise DoclstmError(f"{where}/{name}: missing; not a whole model folder; {remedy}")
    manifest = StageManifest.load(model_dir)
    listed = [name for name in OPTIONAL_MODEL_FILES if name in manifest.files]
    for name in (*MODEL_FILES, *listed):
        entry = manifest.files.get(name)
        if entry is None:
            raise DoclstmError(f"{where}/{name}: not listed in {MANIFEST_NAME}; {remedy}")
        if not (model_dir / name).is_file():
            raise DoclstmError(f"{where}/{name}: missing; not a whole model folder; {remedy}")
        if sha256_file(model_dir / name) != entry.sha256:
            raise DoclstmError(
                f"{where}/{name}: checksum mismatch with {MANIFEST_NAME} "
                f"(corrupt or modified); {remedy}"
            )
    return manifest


def load_model_dir(
    model_dir: Path, device: str | torch.device = "cpu", remedy: str = RETRAIN
) -> LoadedModel:
    """Rebuild a verified model folder, checking that weights, config, tokenizer and labels
    agree."""
    verify_model_dir(model_dir, remedy)
    raw: dict[str, Any] = json.loads((model_dir / CONFIG).read_text(encoding="utf-8"))
    config = ModelConfig.from_dict(raw["model"])
    labels = json.loads((model_dir / LABELS_FILE).read_text(encoding="utf-8"))
    tokenizer = load_tokenizer(model_dir / TOKENIZER_FILE)
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
        model.load_state_dict(legacy_state(load_file(str(model_dir / WEIGHTS))), strict=True)
    except (RuntimeError, SafetensorError) as exc:  # a manifest rewritten to match bad bytes
        raise DoclstmError(
            f"{model_dir / WEIGHTS}: unreadable, or does not fit config.json ({exc}); {remedy}"
        ) from exc
    if config.chunk_encoder == "minilm":  # frozen, from the installed package
        model.window_encoder = MiniLMWindows(tokenizer)
    model.to(device).eval()
    thresholds = raw.get("thresholds")
    if config.multi_label and (thresholds is None or len(thresholds) != len(labels)):
        raise DoclstmError(
            f"{model_dir}/{CONFIG}: a model of several labels a document needs a threshold "
            f"for each of its {len(labels)} labels; {remedy}"
        )
    return LoadedModel(
        model,
        tokenizer,
        labels,
        int(raw["max_tokens"]),
        str(raw["truncation"]),
        thresholds,
        bool(raw.get("top_label_fallback", True)),
    )
