"""Resume checkpoints round-trip every kind of state and refuse a damaged file."""

from pathlib import Path

import pytest
import torch

from doclstm.errors import DoclstmError
from doclstm.training.checkpoint import (
    TENSORS,
    load_training_state,
    rng_state,
    save_training_state,
    set_rng_state,
)


def _optimizer_state() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.LSTM(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model(torch.randn(5, 2, 4))[0].sum().backward()
    optimizer.step()
    return model, optimizer


def test_round_trip_restores_optimizer_and_rng(tmp_path: Path) -> None:
    model, optimizer = _optimizer_state()
    save_training_state(
        tmp_path / "ck",
        {"optimizer": optimizer.state_dict(), "rng": rng_state(), "history": [{"epoch": 1}]},
    )
    expected = torch.rand(3)
    loaded = load_training_state(tmp_path / "ck")
    assert loaded is not None and loaded["history"] == [{"epoch": 1}]
    fresh = torch.optim.AdamW(model.parameters(), lr=0.5)
    fresh.load_state_dict(loaded["optimizer"])
    for key, value in optimizer.state_dict()["state"][0].items():
        torch.testing.assert_close(fresh.state_dict()["state"][0][key], value)
    assert fresh.param_groups[0]["lr"] == 0.01
    set_rng_state(loaded["rng"])
    torch.testing.assert_close(torch.rand(3), expected)


def test_missing_checkpoint_is_none_and_damaged_one_is_an_error(tmp_path: Path) -> None:
    assert load_training_state(tmp_path / "nothing") is None
    save_training_state(tmp_path / "ck", {"w": torch.ones(1000)})
    path = tmp_path / "ck" / TENSORS
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DoclstmError, match="checksum mismatch"):
        load_training_state(tmp_path / "ck")
