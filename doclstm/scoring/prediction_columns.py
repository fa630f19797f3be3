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
top-label fallback), `confidence` the probability that this list is exactly right,
each label taken as the model gives it (the product over labels of p where
predicted, 1 - p where not), and the `prob_<label>` columns each label's own
probability (they need not sum to 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:  # torch: only where a model runs
    from doclstm.scoring.predictor import TextPredictor

PREDICTED, CONFIDENCE, PROBABILITIES, REASON = "predicted", "confidence", "probabilities", "reason"
EMPTY_DOCUMENT = "empty document"  # the reason of a text with nothing but white space


def probability_column(label: str) -> str:
    return f"prob_{label}"


def prediction_fields(labels: list[str]) -> list[pa.Field]:
    return [
        pa.field(PREDICTED, pa.string()),
        pa.field(CONFIDENCE, pa.float32()),
        *(pa.field(probability_column(name), pa.float32()) for name in labels),
        pa.field(PROBABILITIES, pa.list_(pa.float32())),
    ]


def prediction_row(probabilities: np.ndarray | None, labels: list[str]) -> dict[str, Any]:
    """One document's prediction columns; all null for a document not scored."""
    if probabilities is None:
        return dict.fromkeys(
            [PREDICTED, CONFIDENCE, *map(probability_column, labels), PROBABILITIES]
        )
    best = int(probabilities.argmax())
    values = probabilities.tolist()
    return {
        PREDICTED: labels[best],
        CONFIDENCE: values[best],
        **{probability_column(name): p for name, p in zip(labels, values, strict=True)},
        PROBABILITIES: values,
    }


def predicted_rows(predictor: TextPredictor, texts: list[str]) -> list[dict[str, Any]]:
    """Each text's prediction columns and `reason`, in order; an empty or
    whitespace-only text is not scored (`doclstm predict` and the pyfunc)."""
    scored = [text for text in texts if text.strip()]
    probs = iter(predictor.predict(scored) if scored else [])
    return [
        prediction_row(next(probs), predictor.labels) | {REASON: None}
        if text.strip()
        else prediction_row(None, predictor.labels) | {REASON: EMPTY_DOCUMENT}
        for text in texts
    ]


def multilabel_prediction_table(
    probabilities: np.ndarray, labels: list[str], predicted: np.ndarray
) -> dict[str, pa.Array]:
    """The prediction columns of many documents of a model of several labels a document;
    `predicted` is its decision (documents x labels, bool)."""
    probs = np.asarray(probabilities, dtype=np.float32).reshape(-1, len(labels))
    chosen = np.asarray(predicted, dtype=bool)
    right = np.where(chosen, probs, 1 - probs).astype(np.float64).prod(1)
    names = np.array(labels, dtype=object)
    return {
        PREDICTED: pa.array([list(names[row]) for row in chosen], pa.list_(pa.string())),
        CONFIDENCE: pa.array(right, pa.float32()),
        **{
            probability_column(n): pa.array(probs[:, i], pa.float32()) for i, n in enumerate(labels)
        },
        PROBABILITIES: pa.array(list(probs), pa.list_(pa.float32())),
    }


def prediction_table(probabilities: np.ndarray, labels: list[str]) -> dict[str, pa.Array]:
    """The prediction columns of many documents at once (every one scored)."""
    probs = np.asarray(probabilities, dtype=np.float32).reshape(-1, len(labels))
    return {
        PREDICTED: pa.array([labels[i] for i in probs.argmax(1)], pa.string()),
        CONFIDENCE: pa.array(probs.max(1), pa.float32()),
        **{
            probability_column(n): pa.array(probs[:, i], pa.float32()) for i, n in enumerate(labels)
        },
        PROBABILITIES: pa.array(list(probs), pa.list_(pa.float32())),
    }


def pyfunc_signature(labels: list[str]) -> Any:
    """The MLflow signature of the pyfunc (doclstm/scoring/pyfunc_model.py): one string
    column in, these columns out, null where a text was empty."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    outputs: list[Any] = [
        ColSpec("string", PREDICTED, required=False),
        ColSpec("float", CONFIDENCE, required=False),
        *(ColSpec("float", probability_column(name), required=False) for name in labels),
        ColSpec("string", REASON, required=False),
    ]
    # One unnamed string column: a DataFrame with `text` and a plain list both fit.
    return ModelSignature(inputs=Schema([ColSpec("string")]), outputs=Schema(outputs))
