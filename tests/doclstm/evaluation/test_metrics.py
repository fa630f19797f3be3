import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from doclstm.evaluation.metrics import (
    _fast_macro_f1,
    bootstrap_intervals,
    calibration,
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
