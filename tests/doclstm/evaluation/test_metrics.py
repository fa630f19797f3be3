import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from doclstm.evaluation.metrics import (
    _fast_macro_f1,
    accuracy_by_length,
    bootstrap_intervals,
    calibration,
    calibration_floor,
    classification_metrics,
    one_vs_rest_auc,
)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1),
        )
    )
)
def test_bootstrap_macro_f1_equals_scikit_learn(case: tuple[int, list[tuple[int, int]]]) -> None:
    k, pairs = case
    y, p = (np.array(v) for v in zip(*pairs, strict=True))
    expected = f1_score(y, p, labels=list(range(k)), average="macro", zero_division=0)
    assert _fast_macro_f1(y, p, k) == pytest.approx(expected, abs=1e-12)


def test_expected_calibration_error_is_the_confidence_accuracy_gap() -> None:
    y = np.array([0, 1] * 50)
    overconfident = np.tile([[0.9, 0.1]], (100, 1))  # always says 0 at 90%: right half the time
    result = calibration(y, overconfident)
    assert result["ece"] == pytest.approx(0.4)
    (only,) = result["bins"]
    assert (only["bin"], only["accuracy"], only["documents"]) == (13, 0.5, 100)
    assert only["confidence"] == pytest.approx(0.9)
    honest = np.tile([[0.5, 0.5]], (100, 1))
    assert calibration(y, honest)["ece"] == pytest.approx(0.0)


def test_the_calibration_floor_shrinks_with_documents_and_is_what_calibrated_labels_give() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (4000, 3))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    floors = [calibration_floor(probs[:n], seed=1) for n in (100, 400, 4000)]
    assert floors[0] > floors[1] > floors[2] > 0  # sampling noise, about 1/sqrt(documents)
    assert floors[0] > 0.03 and floors[2] < 0.02
    # labels truly drawn from the probabilities: their ECE is near the floor, not near 0
    drawn = (rng.random(400)[:, None] > probs[:400].cumsum(1)).sum(1).clip(0, 2)
    assert calibration(drawn, probs[:400])["ece"] == pytest.approx(floors[1], abs=0.03)
    assert calibration_floor(probs[:400], seed=1) == floors[1]  # seeded


def test_bootstrap_interval_brackets_the_point_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    p = np.where(rng.random(400) < 0.8, y, rng.integers(0, 3, 400))
    first = bootstrap_intervals(y, p, 3, seed=5, samples=300)
    assert first == bootstrap_intervals(y, p, 3, seed=5, samples=300)
    low, high = first["accuracy"]
    assert low < (y == p).mean() < high and high - low < 0.1
    low, high = first["macro_f1"]
    assert low < f1_score(y, p, average="macro") < high


def test_ranking_metrics_binary_reads_the_positive_class_and_absent_classes_are_none() -> None:
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    metrics = classification_metrics(y, probs, ["neg", "pos"], bootstrap_samples=20)
    assert metrics["roc_auc"] == 1.0 and metrics["pr_auc"] == 1.0
    assert metrics["intervals_95"]["accuracy"] == [1.0, 1.0]
    three = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    roc, pr = one_vs_rest_auc(np.array([0, 1]), three)
    assert roc == [1.0, 1.0, None] and pr[2] is None


def _buckets_by_masks(label_ids: np.ndarray, probs: np.ndarray, lengths: np.ndarray) -> list:
    """The quartile buckets with numpy masks: what accuracy_by_length must give."""
    edges = list(np.unique(np.quantile(lengths, np.linspace(0, 1, 5)).astype(np.int64)))
    edges = edges * 2 if len(edges) == 1 else edges
    correct = probs.argmax(1) == label_ids
    rows = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        mask = (lengths >= lo) & ((lengths <= hi) if last else (lengths < hi))
        if mask.any():
            rows.append([int(lo), int(hi), int(mask.sum()), float(correct[mask].mean())])
    return rows


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3_000), st.integers(0, 2), st.integers(0, 2)),
        min_size=1,
        max_size=60,
    )
)
def test_accuracy_by_length_puts_each_document_in_its_quartile_bucket(
    docs: list[tuple[int, int, int]],
) -> None:
    lengths = np.array([d[0] for d in docs])
    labels = np.array([d[1] for d in docs])
    probs = np.eye(3)[[d[2] for d in docs]] * 0.8 + 0.2 / 3
    found = accuracy_by_length(labels, probs, lengths)
    expected = _buckets_by_masks(labels, probs, lengths)
    assert [[r["min_tokens"], r["max_tokens"], r["documents"]] for r in found] == [
        row[:3] for row in expected
    ]
    assert [r["accuracy"] for r in found] == pytest.approx([row[3] for row in expected])
    assert sum(r["documents"] for r in found) == len(docs)
