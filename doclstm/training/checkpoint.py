"""Resume checkpoints: the whole training state, written atomically, never pickled.

A checkpoint folder holds `state.safetensors` (every tensor: weights, best
weights, optimizer moments, RNG states) and `state.json` (everything else,
with `{"__tensor__": key}` where a tensor was, plus the sha256 of the
tensors file). The folder is written beside the old one and renamed into
place, so a kill at any moment leaves either the previous checkpoint or the
new one, whole. Loading checks the checksum and the training fingerprint.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from doclstm.errors import DoclstmError
from doclstm.storage.atomic import atomic_dir, write_json
from doclstm.storage.fingerprint import sha256_file

TENSORS, STATE = "state.safetensors", "state.json"


def resume_dir(out_dir: Path) -> Path:
    """Where a stage writing `out_dir` keeps its resume checkpoint: `<out_dir>.resume`."""
    return out_dir.with_name(f"{out_dir.name}.resume")


def save_training_state(checkpoint_dir: Path, state: dict[str, Any]) -> None:
    """Write `state` (nested dicts/lists of tensors and JSON values) as one checkpoint."""
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, "", tensors)
    with atomic_dir(checkpoint_dir) as tmp:
        save_file(tensors, str(tmp / TENSORS))
        write_json(tmp / STATE, {"tensors_sha256": sha256_file(tmp / TENSORS), "state": encoded})


def load_training_state(checkpoint_dir: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is no checkpoint."""
    if not (checkpoint_dir / STATE).is_file():
        return None
    what_to_do = f"delete {checkpoint_dir} to train from the start"
    try:
        saved = json.loads((checkpoint_dir / STATE).read_text(encoding="utf-8"))
        if sha256_file(checkpoint_dir / TENSORS) != saved["tensors_sha256"]:
            raise DoclstmError(f"{checkpoint_dir / TENSORS}: checksum mismatch; {what_to_do}")
        tensors = load_file(str(checkpoint_dir / TENSORS))
    except (OSError, ValueError, KeyError) as exc:
        problem = f"{checkpoint_dir}: unreadable checkpoint ({exc})"
        raise DoclstmError(f"{problem}; {what_to_do}") from exc
    decoded: dict[str, Any] = _decode(saved["state"], tensors)
    return decoded


def rng_state() -> dict[str, Any]:
    """Every random generator training touches: torch (CPU and each CUDA device), numpy, random."""
    name, key, pos, has_gauss, cached_gauss = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [name, np.asarray(key).tolist(), pos, has_gauss, cached_gauss],
        "python": [version, list(internal), gauss_next],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, key, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), *rest))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def _encode(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": path}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _encode(v, f"{path}.{k}", tensors) for k, v in value.items()}
        # Optimizer state is keyed by parameter index.
        return {"__items__": [[k, _encode(v, f"{path}.{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [_encode(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return value


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__tensor__"}:
            return tensors[value["__tensor__"]]
        if set(value) == {"__items__"}:
            return {k: _decode(v, tensors) for k, v in value["__items__"]}
        return {k: _decode(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    return value
