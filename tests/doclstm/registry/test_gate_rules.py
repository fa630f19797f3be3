from math import comb

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from doclstm.config.params import GateParams
from doclstm.registry.gate_rules import (
    challenger_wins,
    compare,
    judge,
    mcnemar_greater,
    meets_thresholds,
)
from doclstm.registry.multilabel_gate_rules import compare_multilabel, multilabel_challenger_wins


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


def _labelled(seed: int, documents: int = 200) -> list[list[str]]:
    """Random label lists over five labels, some documents with none."""
    rng = np.random.default_rng(seed)
    names = np.array(["a", "b", "c", "d", "e"])
    return [list(names[rng.random(5) < 0.3]) for _ in range(documents)]


def _corrupted(truth: list[list[str]], share: float, seed: int) -> list[list[str]]:
    """`truth` with each (document, label) decision flipped with probability `share`."""
    rng = np.random.default_rng(seed)
    out = []
    for row in truth:
        flipped = {n for n in "abcde" if (n in row) != (rng.random() < share)}
        out.append(sorted(flipped))
    return out


def test_multilabel_micro_and_macro_f1_match_scikit_learn() -> None:
    truth, challenger = _labelled(0), _corrupted(_labelled(0), 0.2, 1)
    found = compare_multilabel(truth, challenger, challenger, min_support=1)
    binarizer = MultiLabelBinarizer(classes=list("abcde")).fit(truth)
    y, a = binarizer.transform(truth), binarizer.transform(challenger)
    assert found.challenger_micro_f1 == pytest.approx(f1_score(y, a, average="micro"))
    assert found.challenger_macro_f1 == pytest.approx(f1_score(y, a, average="macro"))


def test_the_paired_bootstrap_rejects_a_copy_and_promotes_a_clearly_better_model() -> None:
    truth = _labelled(0)
    champion = _corrupted(truth, 0.25, 1)
    copy = compare_multilabel(truth, champion, champion, min_support=20)
    assert copy.improvement == 0 and copy.p_value == 1.0
    wins, reason = multilabel_challenger_wins(copy, GateParams())
    assert not wins and "not significant (p=1" in reason and "micro-F1 gain +0.0000" in reason

    better = compare_multilabel(truth, _corrupted(truth, 0.05, 2), champion, min_support=20)
    assert better.improvement > 0.2 and better.p_value == pytest.approx(1 / 2001)
    wins, reason = multilabel_challenger_wins(better, GateParams())
    assert wins and reason.startswith("challenger is better: test micro-F1")

    # a little better, on few documents: not significant
    slight = compare_multilabel(
        truth[:30], _corrupted(truth[:30], 0.22, 3), champion[:30], min_support=5
    )
    assert not multilabel_challenger_wins(slight, GateParams())[0]


def test_the_multilabel_guardrail_names_a_frequent_label_whose_f1_drops() -> None:
    truth = _labelled(0)
    champion = _corrupted(truth, 0.15, 1)
    # better everywhere but on "e", which it stops predicting
    challenger = [[n for n in row if n != "e"] for row in _corrupted(truth, 0.02, 2)]
    found = compare_multilabel(truth, challenger, champion, min_support=20)
    wins, reason = multilabel_challenger_wins(found, GateParams())
    assert found.improvement > 0 and not wins and "F1 of label 'e' drops by" in reason
    # "e" rarer than min_support: not guarded
    rare = compare_multilabel(truth, challenger, champion, min_support=10_000)
    assert rare.f1_drop == {} and multilabel_challenger_wins(rare, GateParams())[0]


def test_first_multilabel_champion_reads_micro_and_macro_f1() -> None:
    metrics = {"per_label": {}, "micro_f1": 0.6, "macro_f1": 0.45, "accuracy": 0.1}
    ok, reason = meets_thresholds(metrics, GateParams(min_micro_f1=0.5, min_macro_f1=0.4))
    assert ok and "micro-F1 0.6000 (gate.min_micro_f1 0.5)" in reason
    ok, reason = meets_thresholds(metrics, GateParams(min_micro_f1=0.7, min_macro_f1=0.4))
    assert not ok and "misses the first-champion thresholds" in reason


def test_models_of_one_label_and_of_several_do_not_compare() -> None:
    truth = [["a"], ["b", "c"]]
    wins, reason, evidence = judge(truth, [["a"], ["b"]], ["a", "b"], GateParams())
    assert not wins and evidence == {}
    assert reason == (
        "challenger rejected: it gives several labels a document and the champion one label "
        "a document, so they do not compare on the same test; register it under another "
        "register.model_name"
    )
    wins, _, evidence = judge(["a", "b"], ["a", "b"], ["b", "b"], GateParams(alpha=0.9))
    assert evidence["challenger_accuracy"] == 1.0  # one label each: the McNemar comparison
