"""A flow parses a deployment's params file once, and takes typed Params as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from doclstm.config.params import load_params
from doclstm.errors import DoclstmError
from doclstm.flows.settings import flow_params

ROOT = Path(__file__).resolve().parents[2]


def test_a_params_file_is_parsed_with_its_overrides() -> None:
    params = flow_params(str(ROOT / "params.yaml"), ["train.epochs=3"])
    assert params.train.epochs == 3
    assert params == load_params(ROOT / "params.yaml", ["train.epochs=3"])


def test_typed_params_pass_through_unparsed_and_take_no_overrides() -> None:
    typed = load_params(ROOT / "params.yaml", ["train.epochs=3"])
    assert flow_params(typed, None) is typed
    with pytest.raises(DoclstmError, match="overrides apply to a params file"):
        flow_params(typed, ["train.epochs=4"])
