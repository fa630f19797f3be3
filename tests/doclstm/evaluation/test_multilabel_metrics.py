"""Per-label thresholds and multi-label metrics, against scikit-learn and by property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import accuracy_score, f1_score

from doclstm.evaluation.label_decisions import decide
from doclstm.evaluation.multilabel_metrics import f1_scores, multilabel_metrics, tune_thresholds


@st.composite
def _matrices(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    # two labels or more: scikit-learn reads one indicator column as a binary task
    shape = (draw(st.integers(1, 30)), draw(st.integers(2, 6)))
    targets = draw(arrays(np.bool_, shape))
    predicted = draw(arrays(np.bool_, shape))
    return targets, predicted


@given(_matrices())
def test_the_f1s_and_subset_accuracy_are_scikit_learns(pair: tuple[np.ndarray, np.ndarray]) -> None:
    targets, predicted = pair
    ours = f1_scores(targets, predicted)
    for average in ("micro", "macro", "samples"):
        theirs = f1_score(targets, predicted, average=average, zero_division=0)
        assert ours[f"{average}_f1"] == pytest.approx(theirs, abs=1e-12), average
    assert ours["subset_accuracy"] == pytest.approx(accuracy_score(targets, predicted))


def _f1(positive: np.ndarray, passed: np.ndarray) -> float:
    tp = (positive & passed).sum()
    denom = positive.sum() + passed.sum()
    return float(2 * tp / denom) if denom else 0.0


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.bool_, st.tuples(st.integers(2, 40), st.integers(1, 4))),
    st.data(),
)
def test_each_threshold_is_the_best_val_f1_of_its_label(targets: np.ndarray, data) -> None:
    probs = data.draw(
        arrays(np.float64, targets.shape, elements=st.floats(0, 1, allow_subnormal=False))
    )
    thresholds = tune_thresholds(targets, probs, floor=0.05)
    for j in range(targets.shape[1]):
        if not targets[:, j].any():
            assert thresholds[j] == 0.5  # nothing to tune on
            continue
        assert thresholds[j] >= 0.05
        best = _f1(targets[:, j], probs[:, j] >= thresholds[j])
        for other in [*np.linspace(0.05, 1, 20), *probs[:, j]]:
            if other >= 0.05:
                assert best >= _f1(targets[:, j], probs[:, j] >= other) - 1e-12


def test_a_threshold_separates_a_label_that_val_separates() -> None:
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=bool)
    probs = np.array([[0.30, 0.2], [0.25, 0.1], [0.10, 0.9], [0.05, 0.6]])
    thresholds = tune_thresholds(targets, probs)
    assert thresholds[0] == pytest.approx(0.25)  # 0.5 would miss both positives
    assert thresholds[1] == pytest.approx(0.9)  # 0.6 would add a false positive
    assert decide(probs, thresholds).tolist() == [
        [True, False],
        [True, False],
        [False, True],
        [False, True],  # no label passes: its most probable one
    ]
    assert decide(probs, thresholds, top_label=False)[3].tolist() == [False, False]


def test_the_metrics_of_a_small_known_case() -> None:
    labels = ["a", "b", "c"]
    targets = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]], dtype=bool)
    probs = np.array([[0.9, 0.6, 0.1], [0.2, 0.7, 0.3], [0.8, 0.4, 0.45], [0.1, 0.3, 0.8]])
    predicted = decide(probs, np.full(3, 0.5))
    metrics = multilabel_metrics(targets, probs, predicted, labels, bootstrap_samples=50)
    # three of four documents exactly right; the third misses c
    assert metrics["subset_accuracy"] == 0.75
    assert metrics["hamming_loss"] == pytest.approx(1 / 12)
    assert metrics["micro_f1"] == pytest.approx(2 * 5 / (2 * 5 + 0 + 1))
    assert metrics["per_label"]["c"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
        "roc_auc": 1.0,
        "pr_auc": 1.0,
    }
    low, high = metrics["intervals_95"]["micro_f1"]
    assert low <= metrics["micro_f1"] <= high
    assert metrics["label_ranking_average_precision"] == 1.0  # every true label ranked first
