"""From a model's probabilities to its decision: which labels each document gets.

A model of one label a document predicts its most probable label. A model of
several labels a document predicts each label at or over that label's threshold
(tuned on val at training, stored in the model folder) and, with the top-label
fallback, its most probable label where none passes.

The `confidence` of a decision is the probability the model gives it: for one
label a document the chosen label's probability; for several, the probability
that the predicted list is exactly right, each label taken as the model gives it
(the product over labels of p where predicted, 1 - p where not).
"""

from __future__ import annotations

import numpy as np


def decide(probs: np.ndarray, thresholds: np.ndarray, top_label: bool = True) -> np.ndarray:
    """The predicted labels (bool, documents x labels): each label at or over its
    threshold; with `top_label`, the most probable label where none is."""
    predicted = probs >= thresholds[None, :]
    if top_label and len(probs):
        empty = ~predicted.any(1)
        predicted[empty, probs[empty].argmax(1)] = True
    return predicted


def label_lists(chosen: np.ndarray, labels: list[str]) -> list[list[str]]:
    """Each document's labels by name, in the model's label order, from a decision (or a
    0/1 matrix of given labels)."""
    names = np.array(labels, dtype=object)
    return [list(names[row]) for row in np.asarray(chosen, dtype=bool)]


def most_probable(probs: np.ndarray) -> np.ndarray:
    """One label a document, the most probable (bool, documents x labels)."""
    chosen = np.zeros(probs.shape, dtype=bool)
    if len(probs):
        chosen[np.arange(len(probs)), probs.argmax(1)] = True
    return chosen


CONFIDENCE_BINS = 100


def confidence_histogram(sure: np.ndarray) -> list[int]:
    """Counts of confidences in 100 equal bins over [0, 1] (1 falls in the last)."""
    bins = np.minimum((np.asarray(sure) * CONFIDENCE_BINS).astype(np.int64), CONFIDENCE_BINS - 1)
    return np.bincount(bins, minlength=CONFIDENCE_BINS).tolist()


def confidence(probs: np.ndarray, chosen: np.ndarray, multi_label: bool) -> np.ndarray:
    """Each document's confidence in its decision `chosen` (float64, documents)."""
    probs = np.asarray(probs, dtype=np.float64)
    if not multi_label:
        return probs.max(1) if len(probs) else np.zeros(0)
    return np.where(chosen, probs, 1 - probs).prod(1)
