"""Which torch device a stage runs on, and whether it computes bf16 in hardware."""

from __future__ import annotations

import logging
from functools import cache

import torch

from doclstm.errors import DoclstmError

log = logging.getLogger(__name__)


def pick_device(setting: str) -> torch.device:
    """`auto` takes CUDA when present; asking for CUDA without one is a user error."""
    if setting == "cuda" and not torch.cuda.is_available():
        raise DoclstmError("train.device is cuda but no CUDA device is visible; use auto or cpu")
    if setting in ("auto", "cuda") and torch.cuda.is_available():
        torch.backends.cudnn.enabled = True
        return torch.device("cuda")
    return torch.device("cpu")


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 matrices in hardware: CUDA GPUs from Ampere on, CPUs
    with AMX or AVX512-BF16 (Xeon from Sapphire Rapids, AMD from Zen 4). Elsewhere torch
    emulates bf16, slower than fp32."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if device.type != "cpu":
        return False
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch >= 2.3
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


@cache
def warn_if_bf16_is_emulated(device: torch.device, setting: str) -> None:
    """Log once per process and setting when bf16 asked for on `device` is emulated."""
    if not native_bf16(device):
        log.warning(
            "%s is bf16 on %s, which has no bf16 hardware (AMX or AVX512-BF16 on a CPU, "
            "Ampere or later on a GPU): torch emulates it, expect it slower than fp32",
            setting,
            device,
        )
