"""The prediction columns every doclstm output shares: the score shards, evaluate's
`test_predictions.parquet` and the MLflow pyfunc's DataFrame.

`predicted` (the label), `confidence` (its probability), one `prob_<label>` column a
class, and `probabilities`, the same as one list in the model's label order (that
order is also the Parquet schema metadata `labels`, and every score marker's
`labels`: readers that drop the metadata, as `pandas.read_parquet` does, still have
the named columns). Where a document was not scored, every one of them is null and
the `reason` column says why. Truth, where there is one, is `label`.

A model of several labels a document predicts a list: `predicted` is the labels at
or over their thresholds (the most probable one when none is, with the model's
top-label fallback), `confidence` the probability that this list is exactly right
(doclstm/evaluation/label_decisions.py), and the `prob_<label>` columns each label's own
probability (they need not sum to 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from doclstm.evaluation.label_decisions import confidence, label_lists, most_probable

if TYPE_CHECKING:  # torch: only where a model runs
    from doclstm.scoring.predictor import TextPredictor

PREDICTED, CONFIDENCE, PROBABILITIES, REASON = "predicted", "confidence", "probabilities", "reason"
EMPTY_DOCUMENT = "empty document"  # the reason of a text with nothing but white space


def probability_column(label: str) -> str:
    return f"prob_{label}"


def prediction_fields(labels: list[str], multi_label: bool = False) -> list[pa.Field]:
    return [
        pa.field(PREDICTED, pa.list_(pa.string()) if multi_label else pa.string()),
        pa.field(CONFIDENCE, pa.float32()),
        *(pa.field(probability_column(name), pa.float32()) for name in labels),
        pa.field(PROBABILITIES, pa.list_(pa.float32())),
    ]


def unscored_row(labels: list[str]) -> dict[str, Any]:
    """The prediction columns of a document not scored: all null."""
    return dict.fromkeys([PREDICTED, CONFIDENCE, *map(probability_column, labels), PROBABILITIES])


def prediction_table(
    probabilities: np.ndarray, labels: list[str], chosen: np.ndarray | None = None
) -> dict[str, pa.Array]:
    """The prediction columns of many documents (every one scored); `chosen` is the
    decision of a model of several labels a document (bool, documents x labels), None
    for a model of one."""
    probs = np.asarray(probabilities, dtype=np.float32).reshape(-1, len(labels))
    if chosen is None:
        predicted = pa.array([labels[i] for i in probs.argmax(1)], pa.string())
    else:
        predicted = pa.array(label_lists(chosen, labels), pa.list_(pa.string()))
    decision = most_probable(probs) if chosen is None else chosen
    return {
        PREDICTED: predicted,
        CONFIDENCE: pa.array(confidence(probs, decision, chosen is not None), pa.float32()),
        **{
            probability_column(n): pa.array(probs[:, i], pa.float32()) for i, n in enumerate(labels)
        },
        PROBABILITIES: pa.array(list(probs), pa.list_(pa.float32())),
    }


def prediction_rows(
    probabilities: np.ndarray, labels: list[str], chosen: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """`prediction_table` as one dict a document."""
    return pa.table(prediction_table(probabilities, labels, chosen)).to_pylist()


def predicted_rows(predictor: TextPredictor, texts: list[str]) -> list[dict[str, Any]]:
    """Each text's prediction columns and `reason`, in order; an empty or
    whitespace-only text is not scored (`doclstm predict` and the pyfunc)."""
    scored = [text for text in texts if text.strip()]
    found = predictor.score(scored)
    rows = iter(prediction_rows(found.probabilities, predictor.labels, found.chosen))
    return [
        next(rows) | {REASON: None}
        if text.strip()
        else unscored_row(predictor.labels) | {REASON: EMPTY_DOCUMENT}
        for text in texts
    ]


def pyfunc_signature(labels: list[str], multi_label: bool = False) -> Any:
    """The MLflow signature of the pyfunc (doclstm/scoring/pyfunc_model.py): one string
    column in, these columns out, null where a text was empty; `predicted` a list of
    strings for a model of several labels a document."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array

    outputs: list[Any] = [
        ColSpec(Array(DataType.string) if multi_label else "string", PREDICTED, required=False),
        ColSpec("float", CONFIDENCE, required=False),
        *(ColSpec("float", probability_column(name), required=False) for name in labels),
        ColSpec("string", REASON, required=False),
    ]
    # One unnamed string column: a DataFrame with `text` and a plain list both fit.
    return ModelSignature(inputs=Schema([ColSpec("string")]), outputs=Schema(outputs))
