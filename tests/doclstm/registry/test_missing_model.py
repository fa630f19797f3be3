"""Asking for a model name the store does not hold names the ones it does: the usual
cause is a run made with another register.model_name."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from doclstm.errors import DoclstmError
from doclstm.registry.model_registry import Registry


def test_a_missing_model_names_the_registered_ones_and_an_empty_store_says_so(
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(DoclstmError) as empty:
        Registry(uri, "doclstm-bbcnews").versions()
    assert str(empty.value).endswith(
        "; nothing is registered in this store yet (`doclstm run` registers a model)"
    )
    for name in ("tickets", "alerts"):
        MlflowClient(uri).create_registered_model(name)
    with pytest.raises(DoclstmError) as missing:
        Registry(uri, "doclstm-bbcnews").history()
    assert str(missing.value).startswith("no registered model 'doclstm-bbcnews': ")
    assert str(missing.value).endswith(
        "; registered here: alerts, tickets (set register.model_name to one of them)"
    )
