"""The champion/challenger gate: a paired comparison on the same test documents.

Both models' predictions are compared document by document (labels as
strings, so models with different label orders or vocabularies compare
fairly). The challenger wins only if all three hold:

- its accuracy beats the champion's by at least `min_improvement`;
- the gain is significant: one-sided exact McNemar test on the discordant
  documents (challenger right and champion wrong, or the reverse), p < alpha;
- no class's recall drops by more than `max_recall_drop` (a guardrail: a
  better average must not hide a class the new model has stopped finding).

Models of several labels a document compare on micro-F1 by a paired bootstrap, with
a guardrail on each frequent label's F1 (doclstm/registry/multilabel_gate_rules.py);
`judge` picks the comparison, and rejects a challenger of the other task.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import f1_score, recall_score

from doclstm.config.params import GateParams
from doclstm.registry.gate_decision import gate_decision
from doclstm.registry.multilabel_gate_rules import (
    compare_multilabel,
    meets_multilabel_thresholds,
    multilabel_challenger_wins,
)


@dataclass(frozen=True)
class Comparison:
    documents: int
    challenger_accuracy: float
    champion_accuracy: float
    challenger_macro_f1: float
    champion_macro_f1: float
    challenger_only_correct: int
    champion_only_correct: int
    p_value: float
    recall_drop: dict[str, float]  # champion recall - challenger recall, per true class

    @property
    def improvement(self) -> float:
        return self.challenger_accuracy - self.champion_accuracy

    def evidence(self) -> dict[str, Any]:
        flat = {k: v for k, v in asdict(self).items() if k != "recall_drop"}
        worst = max(self.recall_drop.items(), key=lambda kv: kv[1])
        return flat | {
            "accuracy_improvement": self.improvement,
            "worst_recall_drop": f"{worst[0]}: {worst[1]:+.4f}",
        }


def compare(truth: list[str], challenger: list[str], champion: list[str]) -> Comparison:
    """Paired comparison of two prediction lists for the same documents, in one order."""
    if not truth or not len(truth) == len(challenger) == len(champion):
        raise ValueError("the gate needs the same, non-empty list of documents for both models")
    y, a, b = np.asarray(truth), np.asarray(challenger), np.asarray(champion)
    a_right, b_right = a == y, b == y
    only_a = int((a_right & ~b_right).sum())
    only_b = int((b_right & ~a_right).sum())
    classes = sorted(set(truth))
    recall_a = recall_score(y, a, labels=classes, average=None, zero_division=0)
    recall_b = recall_score(y, b, labels=classes, average=None, zero_division=0)
    return Comparison(
        documents=len(truth),
        challenger_accuracy=float(a_right.mean()),
        champion_accuracy=float(b_right.mean()),
        challenger_macro_f1=_macro_f1(y, a, classes),
        champion_macro_f1=_macro_f1(y, b, classes),
        challenger_only_correct=only_a,
        champion_only_correct=only_b,
        p_value=mcnemar_greater(only_a, only_b),
        recall_drop={
            c: float(rb - ra) for c, ra, rb in zip(classes, recall_a, recall_b, strict=True)
        },
    )


Labels = list[str] | list[list[str]]  # a label a document, or with several, a list


def judge(
    truth: Labels, challenger: Labels, champion: Labels, params: GateParams
) -> tuple[bool, str, dict[str, Any]]:
    """The paired comparison of the two models' predictions: the decision, its reason and
    evidence. Two models of different tasks (one label a document, several) do not
    compare: the challenger is rejected, saying so."""
    several = [bool(labels) and isinstance(labels[0], list) for labels in (challenger, champion)]
    if several[0] != several[1]:
        tasks = ["several labels a document" if s else "one label a document" for s in several]
        return (
            False,
            f"challenger rejected: it gives {tasks[0]} and the champion {tasks[1]}, so they "
            "do not compare on the same test; register it under another register.model_name",
            {},
        )
    if several[0]:
        lists = cast(list[list[str]], truth), cast(list[list[str]], challenger)
        found = compare_multilabel(
            *lists, cast(list[list[str]], champion), params.min_label_support
        )
        return (*multilabel_challenger_wins(found, params), found.evidence())
    comparison = compare(*(cast(list[str], labels) for labels in (truth, challenger, champion)))
    return (*challenger_wins(comparison, params), comparison.evidence())


def mcnemar_greater(only_challenger: int, only_champion: int) -> float:
    """One-sided exact McNemar p-value for "the challenger is right more often": the
    chance of at least `only_challenger` wins among the discordant documents if
    each were a fair coin."""
    discordant = only_challenger + only_champion
    if discordant == 0:
        return 1.0
    return float(binomtest(only_challenger, discordant, 0.5, alternative="greater").pvalue)


def challenger_wins(comparison: Comparison, params: GateParams) -> tuple[bool, str]:
    """The decision and a sentence that says why, naming every failed condition."""
    c = comparison
    worst_class, worst_drop = max(c.recall_drop.items(), key=lambda kv: kv[1])
    summary = (
        f"test accuracy {c.challenger_accuracy:.4f} vs champion {c.champion_accuracy:.4f} "
        f"({c.improvement:+.4f}) on {c.documents} documents; challenger alone right on "
        f"{c.challenger_only_correct}, champion alone on {c.champion_only_correct}, "
        f"McNemar p={c.p_value:.3g}"
    )
    guard = (f"recall of class {worst_class!r}", worst_drop)
    wins, reason = gate_decision("accuracy", c.improvement, c.p_value, guard, summary, params)
    return wins, f"{reason}; worst recall drop {worst_drop:+.4f}" if wins else reason


def meets_thresholds(metrics: dict[str, Any], params: GateParams) -> tuple[bool, str]:
    """With no champion yet: the absolute test-metric thresholds."""
    if "per_label" in metrics:  # several labels a document
        return meets_multilabel_thresholds(metrics["micro_f1"], metrics["macro_f1"], params)
    accuracy, f1 = metrics["accuracy"], metrics["macro_f1"]
    if accuracy >= params.min_accuracy and f1 >= params.min_macro_f1:
        return True, (
            f"no champion yet; test accuracy {accuracy:.4f} >= gate.min_accuracy "
            f"{params.min_accuracy} and macro-F1 {f1:.4f} >= gate.min_macro_f1 "
            f"{params.min_macro_f1}"
        )
    return False, (
        f"no champion yet, and the challenger misses the first-champion thresholds: test "
        f"accuracy {accuracy:.4f} (gate.min_accuracy {params.min_accuracy}), macro-F1 "
        f"{f1:.4f} (gate.min_macro_f1 {params.min_macro_f1})"
    )


def _macro_f1(y: np.ndarray, predicted: np.ndarray, classes: list[str]) -> float:
    return float(f1_score(y, predicted, labels=classes, average="macro", zero_division=0))
