"""The MLflow pyfunc, logged as code (models-from-code): loading unpickles nothing.

Input: a DataFrame with a `text` column (or one column of any name), or a
list of strings; the signature declares one string column, checked by position. Output: a
DataFrame with the columns `doclstm score` writes (doclstm/scoring/prediction_columns.py:
`predicted`, `confidence`, one `prob_<label>` a class) and `reason`: an empty or
whitespace-only text is not scored, as `doclstm score` does not score it either; its
prediction columns are empty and `reason` says "empty document". The model
folder (safetensors, config, tokenizer, labels) travels as the artifact
`model_dir`, with its manifest: loading verifies every file against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from doclstm.errors import DoclstmError
from doclstm.models.model_folder import load_model_dir
from doclstm.scoring.prediction_columns import PROBABILITIES, predicted_rows
from doclstm.scoring.predictor import TextPredictor


class DoclstmPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        damaged = "the registered model is damaged: register a new version, or load another"
        model_dir = Path(context.artifacts["model_dir"])
        self.predictor = TextPredictor(load_model_dir(model_dir, remedy=damaged))

    # A DataFrame is what MLflow hands over after enforcing the signature; of the type hints
    # MLflow reads, it is one it infers no second, conflicting signature from, and without
    # one MLflow advises adding hints wherever the model is loaded or served.
    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        rows = predicted_rows(self.predictor, _texts(model_input))
        # The prob_<label> columns say what the probabilities list says, named.
        return pd.DataFrame([{k: v for k, v in r.items() if k != PROBABILITIES} for r in rows])


def _texts(model_input: Any) -> list[str]:
    if isinstance(model_input, pd.DataFrame):
        if "text" in model_input.columns:
            return [str(t) for t in model_input["text"].tolist()]
        if len(model_input.columns) == 1:
            return [str(t) for t in model_input.iloc[:, 0].tolist()]
        raise DoclstmError(
            f"model input needs a 'text' column; got columns {list(model_input.columns)}"
        )
    if isinstance(model_input, str):
        return [model_input]
    return [str(t) for t in model_input]


set_model(DoclstmPyfunc())
