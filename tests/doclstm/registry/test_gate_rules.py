from math import comb

import pytest

from doclstm.config.params import GateParams
from doclstm.registry.gate_rules import challenger_wins, compare, mcnemar_greater, meets_thresholds


def test_mcnemar_is_the_one_sided_binomial_tail_of_the_discordant_documents() -> None:
    assert mcnemar_greater(10, 0) == pytest.approx(0.5**10)
    assert mcnemar_greater(0, 0) == 1.0
    assert mcnemar_greater(0, 10) == 1.0
    assert mcnemar_greater(6, 4) == pytest.approx(sum(comb(10, k) for k in range(6, 11)) / 1024)


def _case(champion_errors: int, challenger_errors: int) -> tuple[list[str], list[str], list[str]]:
    """100 documents, half 'a' half 'b'; each model wrong on the first N 'a' documents."""
    truth = ["a"] * 50 + ["b"] * 50
    champion = ["b" if i < champion_errors else t for i, t in enumerate(truth)]
    challenger = ["b" if i < challenger_errors else t for i, t in enumerate(truth)]
    return truth, challenger, champion


def test_significantly_better_challenger_wins() -> None:
    comparison = compare(*_case(champion_errors=20, challenger_errors=2))
    assert comparison.challenger_only_correct == 18 and comparison.champion_only_correct == 0
    assert comparison.recall_drop == {"a": pytest.approx(-0.36), "b": 0.0}
    wins, reason = challenger_wins(comparison, GateParams())
    assert wins and reason.startswith("challenger is better")


def test_small_gain_is_not_significant_and_margin_is_enforced() -> None:
    comparison = compare(*_case(champion_errors=3, challenger_errors=1))
    wins, reason = challenger_wins(comparison, GateParams())
    assert not wins and "not significant" in reason
    big = compare(*_case(champion_errors=20, challenger_errors=2))
    wins, reason = challenger_wins(big, GateParams(min_improvement=0.25))
    assert not wins and "gate.min_improvement 0.25" in reason


def test_recall_guardrail_blocks_a_better_average_that_drops_a_class() -> None:
    truth = ["a"] * 10 + ["b"] * 90
    champion = ["a"] * 10 + ["a"] * 40 + ["b"] * 50  # a: all right, b: 50/90
    challenger = ["b"] * 2 + ["a"] * 8 + ["b"] * 90  # a: 8/10, b: all right
    comparison = compare(truth, challenger, champion)
    assert comparison.improvement > 0.3 and comparison.p_value < 1e-6
    wins, reason = challenger_wins(comparison, GateParams(max_recall_drop=0.1))
    assert not wins and "recall of class 'a' drops by 0.2000" in reason
    assert challenger_wins(comparison, GateParams(max_recall_drop=0.25))[0]


def test_models_with_different_label_sets_compare_by_name() -> None:
    truth = ["x", "y", "z", "x"]
    comparison = compare(truth, ["x", "y", "z", "x"], ["x", "new", "z", "y"])
    assert (comparison.challenger_accuracy, comparison.champion_accuracy) == (1.0, 0.5)


def test_first_champion_thresholds() -> None:
    params = GateParams(min_accuracy=0.9, min_macro_f1=0.8)
    assert meets_thresholds({"accuracy": 0.91, "macro_f1": 0.85}, params)[0]
    ok, reason = meets_thresholds({"accuracy": 0.91, "macro_f1": 0.7}, params)
    assert not ok and "macro-F1 0.7000 (gate.min_macro_f1 0.8)" in reason
