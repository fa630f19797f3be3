"""The drift report of a score run: the scored documents' profile against the training data's.

Each output shard records, in its completion marker, the counts of what it scored
(`shard_counts`): the lengths the model read (tokens, cut at its window) on the fixed
power-of-two edges of doclstm/text/histogram.py, unknown tokens, documents over the
window, predicted labels, and a 100-bin histogram of the confidence (the top
probability; with several labels a document, that of the predicted list). So the report
of a whole folder is the sum over its markers, whichever process scored each shard and
however often the run was resumed, and it costs no second read of the archive.

`drift_report` compares the sum with the model folder's `profile.json`
(doclstm/text/profile.py): the population stability index (PSI) of the length
distribution, and of the predicted labels against the training labels (with several
labels a document, each label's share of documents on its own, and the label that
moved most); the rise in the unknown-token share and in the share of documents over
the window; and the share of unsure predictions (confidence under
`score.drift.confidence`; with several labels a document, its rise over the share of
val at training, kept in the profile, as a whole list is exactly right less often by
nature). Each threshold of `score.drift` passed is an alert; `drifted` is whether there
is any.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from doclstm.config.params import DriftParams
from doclstm.evaluation.label_decisions import (
    CONFIDENCE_BINS,
    confidence,
    confidence_histogram,
    most_probable,
)
from doclstm.storage.atomic import write_json
from doclstm.text.histogram import length_histogram

if TYPE_CHECKING:  # torch: only where a model runs
    from doclstm.scoring.predictor import Scores

DRIFT_DIR = "_drift"  # underscore: Arrow and Spark skip it when they read the output folder
DRIFT_JSON, DRIFT_PNG = "drift.json", "drift.png"
MEASURES = ("length_psi", "label_psi", "unknown_increase", "over_window_increase", "unsure_share")
PSI_FLOOR = 1e-4  # a bucket empty on one side counts as this share, so the PSI is finite


def shard_counts(scores: Scores, window: int, labels: list[str]) -> dict[str, Any]:
    """What one shard's scored documents hold: the report's sums (`merge_counts`)."""
    multi = scores.chosen is not None
    probs = np.asarray(scores.probabilities, dtype=np.float64).reshape(-1, len(labels))
    chosen = most_probable(probs) if scores.chosen is None else scores.chosen
    whole = np.asarray(scores.tokens, dtype=np.int64)
    read = np.minimum(whole, window)
    return {
        "documents": len(whole),
        "tokens": int(read.sum()),
        "unknown": int(scores.unknown.sum()),
        "over_window": int((whole > window).sum()),
        "lengths": length_histogram(read.tolist()),
        "labels": {name: int(chosen[:, i].sum()) for i, name in enumerate(labels)},
        "confidence": confidence_histogram(confidence(probs, chosen, multi)),
        "multi_label": multi,
    }


def merge_counts(counts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The sum of shard counts; None for no shard."""
    if not counts:
        return None
    total: dict[str, Any] = {
        key: sum(c[key] for c in counts)
        for key in ("documents", "tokens", "unknown", "over_window")
    }
    for key in ("lengths", "labels"):
        total[key] = {k: sum(c[key].get(k, 0) for c in counts) for k in counts[0][key]}
    total["confidence"] = np.sum([c["confidence"] for c in counts], axis=0).tolist()
    total["multi_label"] = any(c.get("multi_label", False) for c in counts)
    return total


def psi(expected: Mapping[str, float], actual: Mapping[str, float]) -> float:
    """Population stability index: sum over buckets of (a - e) * ln(a / e), on shares, an
    empty bucket counting as PSI_FLOOR."""
    total = 0.0
    for key in sorted(expected.keys() | actual.keys()):  # one order: the same sum every run
        e = max(expected.get(key, 0.0), PSI_FLOOR)
        a = max(actual.get(key, 0.0), PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def label_psi(
    expected: Mapping[str, float], actual: Mapping[str, float], multi_label: bool
) -> tuple[float, str | None]:
    """The PSI of the predicted labels against the training labels, and for several labels
    a document the label it comes from: each label's shares (of documents that have it,
    and not) compared on their own, the largest PSI kept."""
    if not multi_label:
        return psi(expected, actual), None
    each = {
        name: psi(
            {"yes": expected.get(name, 0.0), "no": 1 - expected.get(name, 0.0)},
            {"yes": actual.get(name, 0.0), "no": 1 - actual.get(name, 0.0)},
        )
        for name in sorted(expected.keys() | actual.keys())
    }
    worst = max(each, key=lambda name: each[name], default=None)
    return (each[worst], worst) if worst is not None else (0.0, None)


def drift_report(
    counts: dict[str, Any] | None, training: dict[str, Any] | None, params: DriftParams
) -> dict[str, Any]:
    """The comparison, with an alert for each threshold passed."""
    if counts is None or counts["documents"] == 0:
        return _report(None, None, params, [], "no document was scored")
    n = counts["documents"]
    lengths = _shares(counts["lengths"], n)
    labels = _shares(counts["labels"], n)
    unsure_bins = round(params.confidence * CONFIDENCE_BINS)
    scored = {
        "documents": n,
        "length_shares": lengths,
        "label_shares": labels,
        "unknown_token_share": counts["unknown"] / counts["tokens"] if counts["tokens"] else 0.0,
        "over_window_share": counts["over_window"] / n,
        "unsure_share": sum(counts["confidence"][:unsure_bins]) / n,
        "confidence_histogram": counts["confidence"],
    }
    if training is None:
        note = "the model folder has no profile.json (trained before profiles): retrain it"
        return _report(scored, None, params, [], note)
    trained_lengths = _shares(training["length_histogram"], training["documents"])
    by_label, moved = label_psi(
        training["label_shares"], labels, bool(counts.get("multi_label", False))
    )
    # Several labels a document: a whole list is exactly right less often by nature, so
    # unsure predictions count over the share the model gave val at training.
    usual = training.get("confidence_histogram")
    trained_unsure = sum(usual[:unsure_bins]) / max(sum(usual), 1) if usual else 0.0
    measures = {
        "length_psi": psi(trained_lengths, lengths),
        "label_psi": by_label,
        "unknown_increase": scored["unknown_token_share"] - training["unknown_token_share"],
        "over_window_increase": scored["over_window_share"] - training["truncated_share"],
        "unsure_share": scored["unsure_share"] - trained_unsure,
    }
    alerts = [  # each measure's limit is the setting max_<measure>
        f"{name} {value:.3f} > score.drift.max_{name} {getattr(params, f'max_{name}')}"
        for name, value in measures.items()
        if value > getattr(params, f"max_{name}")
    ]
    compared = {"training_length_shares": trained_lengths, **measures}
    if usual:  # the measure is the rise; both shares beside it
        compared |= {
            "training_unsure_share": trained_unsure,
            "scored_unsure_share": scored["unsure_share"],
        }
    if moved is not None:  # several labels a document: the label whose share moved most
        compared["label_psi_label"] = moved
    return _report({**scored, **compared}, training, params, alerts, None)


def log_drift_metrics(tracking: str, model_name: str, version: str, report: dict[str, Any]) -> bool:
    """The report's measures as metrics on the MLflow run of registered version `version`
    (`drift/length_psi`, ..., one point per score run, at the step after the last);
    False for a model folder or a version registered outside a run, which have none."""
    if not version.isdigit() or report["scored"] is None:
        return False
    scored = report["scored"]
    names = [*MEASURES, "unknown_token_share", "over_window_share", "documents"]
    values = {f"drift/{name}": float(scored[name]) for name in names if name in scored}
    values["drift/drifted"] = float(report["drifted"])
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking)
    run_id = client.get_model_version(model_name, version).run_id
    if run_id is None:  # a version registered from outside a run
        return False
    now = int(time.time() * 1000)
    step = len(client.get_metric_history(run_id, "drift/documents"))
    client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])
    return True


def write_drift_report(out_dir: Path, report: dict[str, Any], title: str) -> Path:
    """`<out_dir>/_drift/drift.json` and its plot `drift.png`; the JSON's path."""
    from doclstm.evaluation.plots import plot_drift  # matplotlib: only once a run ends

    folder = out_dir / DRIFT_DIR
    folder.mkdir(exist_ok=True)
    if report["scored"] is not None:
        plot_drift(report, title, folder / DRIFT_PNG)
    write_json(folder / DRIFT_JSON, report)
    return folder / DRIFT_JSON


def _report(
    scored: dict[str, Any] | None,
    training: dict[str, Any] | None,
    params: DriftParams,
    alerts: list[str],
    note: str | None,
) -> dict[str, Any]:
    return {
        "drifted": bool(alerts),
        "alerts": alerts,
        "note": note,
        "scored": scored,
        "training": training,
        "thresholds": params.model_dump(mode="json"),
    }


def _shares(counts: Mapping[str, int], total: int) -> dict[str, float]:
    return {key: (value / total if total else 0.0) for key, value in counts.items()}
