"""Which torch device a stage runs on."""

from __future__ import annotations

import torch

from doclstm.errors import DoclstmError


def pick_device(setting: str) -> torch.device:
    """`auto` takes CUDA when present; asking for CUDA without one is a user error."""
    if setting == "cuda" and not torch.cuda.is_available():
        raise DoclstmError("train.device is cuda but no CUDA device is visible; use auto or cpu")
    if setting in ("auto", "cuda") and torch.cuda.is_available():
        torch.backends.cudnn.enabled = True
        return torch.device("cuda")
    return torch.device("cpu")
