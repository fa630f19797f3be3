"""Several labels a document: per-label decision thresholds and the metrics of the result.

A multi-label model gives each label its own probability; a label is predicted
where its probability reaches that label's threshold. `tune_thresholds` picks
each label's threshold on val, the one that maximises that label's F1 there (ties:
the one closest to 0.5), never below `floor`; a label with no val positives keeps
0.5; `decide` (doclstm/evaluation/label_decisions.py) applies them.

`multilabel_metrics` is what `metrics.json` holds for such a model, under the
names the single-label metrics use where they mean the same thing: micro-, macro-
and samples-F1, subset accuracy (every label right), Hamming loss, label-ranking
average precision, per-label precision, recall, F1, support, ROC-AUC and PR-AUC,
95% bootstrap intervals of the F1s and subset accuracy, the log loss (the labels'
binary ones summed) and the calibration error of each label's probability against
how often the label is there, with its floor. The F1s follow
scikit-learn's definitions with zero_division=0; the bootstrap uses a counting
version of them (checked against scikit-learn by the tests).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    hamming_loss,
    label_ranking_average_precision_score,
    roc_auc_score,
)

from doclstm.evaluation.label_decisions import decide
from doclstm.evaluation.metrics import BOOTSTRAP_SAMPLES, CALIBRATION_BINS, reliability

DEFAULT_THRESHOLD = 0.5
HEADLINE = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy")


def tune_thresholds(targets: np.ndarray, probs: np.ndarray, floor: float = 0.05) -> np.ndarray:
    """Per label, the threshold in [floor, 1] with the best F1 on (`targets`, `probs`),
    the val split's; the candidates are the label's own probabilities and 0.5."""
    targets = np.asarray(targets, dtype=bool)
    chosen = np.full(targets.shape[1], DEFAULT_THRESHOLD)
    for j in range(targets.shape[1]):
        positive = targets[:, j]
        if not positive.any():
            continue
        candidates = np.unique(np.append(probs[:, j], DEFAULT_THRESHOLD))
        candidates = candidates[candidates >= floor]
        if not len(candidates):
            chosen[j] = floor
            continue
        # documents, and positive ones, at or over each candidate: by sorting, not a
        # candidates x documents matrix (val splits of thousands, every epoch)
        everyone, positives = np.sort(probs[:, j]), np.sort(probs[positive, j])
        passed = len(everyone) - np.searchsorted(everyone, candidates, "left")
        tp = len(positives) - np.searchsorted(positives, candidates, "left")
        denom = passed + len(positives)  # 2tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
        best = np.flatnonzero(f1 == f1.max())
        chosen[j] = candidates[best[np.argmin(np.abs(candidates[best] - DEFAULT_THRESHOLD))]]
    return chosen


def tuned_f1_scores(targets: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """`f1_scores` with each label at its best threshold on these same documents: how a
    model scores on val once its thresholds are tuned there (epochs, the bag's C)."""
    return f1_scores(targets, decide(probs, tune_thresholds(targets, probs)))


def multilabel_metrics(
    targets: np.ndarray,
    probs: np.ndarray,
    predicted: np.ndarray,
    labels: list[str],
    seed: int = 0,
    bootstrap_samples: int = BOOTSTRAP_SAMPLES,
) -> dict[str, Any]:
    """The metrics of `predicted` (from `decide`) against `targets`, both bool
    documents x labels, with the ranking metrics from `probs`."""
    targets = np.asarray(targets, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    counts = label_counts(targets, predicted)
    precision, recall, f1 = _per_label(counts)
    ranking = [_ranking(targets[:, j], probs[:, j]) for j in range(len(labels))]
    per_label = {
        name: {
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "support": int(counts[1][j] + counts[3][j]),
            "roc_auc": ranking[j][0],
            "pr_auc": ranking[j][1],
        }
        for j, name in enumerate(labels)
    }
    point = f1_scores(targets, predicted)
    reliability = label_calibration(targets, probs)
    return {
        **point,
        "log_loss": label_log_loss(targets, probs),
        "expected_calibration_error": reliability["ece"],
        "expected_calibration_error_floor": label_calibration_floor(probs, seed=seed),
        "calibration_bins": reliability["bins"],
        "hamming_loss": float(hamming_loss(targets, predicted)) if len(targets) else 0.0,
        "label_ranking_average_precision": (
            float(label_ranking_average_precision_score(targets, probs)) if len(targets) else 0.0
        ),
        "labels_per_document": float(targets.sum(1).mean()) if len(targets) else 0.0,
        "predicted_labels_per_document": float(predicted.sum(1).mean()) if len(targets) else 0.0,
        "documents": len(targets),
        "intervals_95": bootstrap_intervals(targets, predicted, seed, bootstrap_samples),
        "per_label": per_label,
    }


def label_log_loss(targets: np.ndarray, probs: np.ndarray) -> float:
    """The labels' binary log losses summed, averaged over the documents (the training
    loss)."""
    if not len(targets):
        return 0.0
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(targets, dtype=bool)
    return float(-np.where(y, np.log(p), np.log1p(-p)).sum(1).mean())


def label_calibration(
    targets: np.ndarray, probs: np.ndarray, bins: int = CALIBRATION_BINS
) -> dict[str, Any]:
    """Each label's probability against how often the label is there: `reliability` over
    every (document, label) pair (its `confidence` is the probability, its `accuracy` the
    share of pairs that have the label, its `documents` the pairs)."""
    p = np.asarray(probs, dtype=np.float64).ravel()
    return reliability(p, np.asarray(targets, dtype=bool).ravel(), bins)


def label_calibration_floor(probs: np.ndarray, seed: int = 0, samples: int = 100) -> float:
    """`label_calibration`'s ECE for labels drawn from `probs` themselves, averaged: what
    a perfectly calibrated model shows on this many documents (sampling noise alone)."""
    if not len(probs):
        return 0.0
    rng = np.random.default_rng(seed)
    drawn = (rng.random(probs.shape) < probs for _ in range(samples))
    return float(np.mean([label_calibration(y, probs)["ece"] for y in drawn]))


def label_counts(targets: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per label: true negatives, false negatives, false positives, true positives."""
    tp = (targets & predicted).sum(0)
    fp = (~targets & predicted).sum(0)
    fn = (targets & ~predicted).sum(0)
    return len(targets) - tp - fp - fn, fn, fp, tp


def f1_scores(targets: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Micro-, macro- and samples-F1 and subset accuracy, as scikit-learn defines them
    (zero_division=0), from counts."""
    _, fn, fp, tp = label_counts(targets, predicted)
    micro_denom = 2 * tp.sum() + fp.sum() + fn.sum()
    _, _, per_label = _per_label((None, fn, fp, tp))
    both = (targets & predicted).sum(1)
    row_denom = targets.sum(1) + predicted.sum(1)
    samples = np.divide(2 * both, row_denom, out=np.zeros(len(targets)), where=row_denom > 0)
    n = max(len(targets), 1)
    return {
        "micro_f1": float(2 * tp.sum() / micro_denom) if micro_denom else 0.0,
        "macro_f1": float(per_label.mean()) if len(per_label) else 0.0,
        "samples_f1": float(samples.sum() / n),
        "subset_accuracy": float((targets == predicted).all(1).sum() / n),
    }


def bootstrap_intervals(
    targets: np.ndarray,
    predicted: np.ndarray,
    seed: int = 0,
    samples: int = BOOTSTRAP_SAMPLES,
) -> dict[str, list[float]]:
    """95% percentile-bootstrap intervals of the headline metrics (documents resampled
    with replacement, `samples` times, seeded)."""
    rng = np.random.default_rng(seed)
    n = len(targets)
    drawn: dict[str, list[float]] = {name: [] for name in HEADLINE}
    for _ in range(samples if n else 0):
        pick = rng.integers(0, n, n)
        for name, value in f1_scores(targets[pick], predicted[pick]).items():
            drawn[name].append(value)
    return {
        name: [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))] if v else [0.0, 0.0]
        for name, v in drawn.items()
    }


def _per_label(counts: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, fn, fp, tp = counts
    tp = tp.astype(np.float64)
    zeros = np.zeros(len(tp))
    precision = np.divide(tp, tp + fp, out=zeros.copy(), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=zeros.copy(), where=(tp + fn) > 0)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=zeros.copy(), where=denom > 0)
    return precision, recall, f1


def _ranking(positive: np.ndarray, probs: np.ndarray) -> tuple[float | None, float | None]:
    """ROC-AUC and PR-AUC of one label; None where every document, or none, has it."""
    if positive.all() or not positive.any():
        return None, None
    return float(roc_auc_score(positive, probs)), float(average_precision_score(positive, probs))
