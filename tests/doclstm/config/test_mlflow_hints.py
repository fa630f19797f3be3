"""MLflow's advice that does not fit doclstm's models stays out of the user's terminal,
and every other warning still reaches it."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from doclstm.config.tracking import MLFLOW_HINTS, mlflow_hints_silenced

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("hint", MLFLOW_HINTS)
def test_each_hint_is_silenced_even_when_coloured(hint: str) -> None:
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with mlflow_hints_silenced():
            warnings.warn(f"\x1b[33m{hint} and more advice\x1b[0m", UserWarning, stacklevel=1)
            warnings.warn("the store is read-only", UserWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["the store is read-only"]


def test_loading_the_pyfunc_module_prints_no_type_hint_advice() -> None:
    """What `mlflow models serve` and every pyfunc load run: the module that defines the
    model class, imported in a fresh process after MLflow itself."""
    code = (
        "import mlflow.pyfunc, sys; sys.stderr.write('IMPORTED\\n'); "
        "import doclstm.scoring.pyfunc_model"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    after_mlflow = done.stderr.split("IMPORTED\n", 1)[1]
    assert "type hints" not in after_mlflow, after_mlflow
