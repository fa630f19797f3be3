"""The gate's paired comparison of two models of several labels a document.

Both models' label lists for the same test documents are compared (labels as
strings, so the two need not share a label order). The challenger wins only if all
three hold:

- its micro-F1 beats the champion's by at least `min_improvement`;
- the gain is significant: a one-sided paired bootstrap of the micro-F1 difference
  (the documents resampled with replacement, both models on each draw), p < alpha;
- no frequent label's F1 (a label with at least `min_label_support` test documents)
  drops by more than `max_recall_drop`: a better average must not hide a label the new
  model has stopped finding, and a rare label's F1 moves too much by chance to judge.

With no champion yet, micro- and macro-F1 against `min_micro_f1` and `min_macro_f1`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from doclstm.config.params import GateParams
from doclstm.registry.gate_decision import gate_decision


def meets_multilabel_thresholds(micro: float, macro: float, params: GateParams) -> tuple[bool, str]:
    """With no champion yet: the first-champion thresholds on micro- and macro-F1."""
    found = (
        f"test micro-F1 {micro:.4f} (gate.min_micro_f1 {params.min_micro_f1}), macro-F1 "
        f"{macro:.4f} (gate.min_macro_f1 {params.min_macro_f1})"
    )
    if micro >= params.min_micro_f1 and macro >= params.min_macro_f1:
        return True, f"no champion yet; the challenger meets the first-champion thresholds: {found}"
    return False, (
        f"no champion yet, and the challenger misses the first-champion thresholds: {found}"
    )


BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED = 2000, 0


@dataclass(frozen=True)
class MultilabelComparison:
    documents: int
    challenger_micro_f1: float
    champion_micro_f1: float
    challenger_macro_f1: float
    champion_macro_f1: float
    p_value: float  # one-sided paired bootstrap: the challenger's micro-F1 is not higher
    f1_drop: dict[str, float]  # champion F1 - challenger F1, for each frequent label

    @property
    def improvement(self) -> float:
        return self.challenger_micro_f1 - self.champion_micro_f1

    def worst_drop(self) -> tuple[str | None, float]:
        if not self.f1_drop:
            return None, 0.0
        return max(self.f1_drop.items(), key=lambda kv: kv[1])

    def evidence(self) -> dict[str, Any]:
        flat = {k: v for k, v in asdict(self).items() if k != "f1_drop"}
        worst, drop = self.worst_drop()
        return flat | {
            "micro_f1_improvement": self.improvement,
            "worst_label_f1_drop": f"{worst}: {drop:+.4f}" if worst else "no frequent label",
        }


def compare_multilabel(
    truth: list[list[str]],
    challenger: list[list[str]],
    champion: list[list[str]],
    min_support: int,
    samples: int = BOOTSTRAP_SAMPLES,
) -> MultilabelComparison:
    """Paired comparison of two models' label lists for the same documents, in one order;
    the labels are compared as strings, so the two models need not share a label order."""
    if not truth or not len(truth) == len(challenger) == len(champion):
        raise ValueError("the gate needs the same, non-empty list of documents for both models")
    names = sorted({str(n) for rows in (truth, challenger, champion) for row in rows for n in row})
    y, a, b = (_indicators(rows, names) for rows in (truth, challenger, champion))
    counts_a, counts_b = _document_counts(y, a), _document_counts(y, b)
    support = y.sum(0)
    f1_a, f1_b = _label_f1(y, a), _label_f1(y, b)
    return MultilabelComparison(
        documents=len(truth),
        challenger_micro_f1=_micro_f1(counts_a.sum(0)),
        champion_micro_f1=_micro_f1(counts_b.sum(0)),
        challenger_macro_f1=float(f1_a[support > 0].mean()) if support.any() else 0.0,
        champion_macro_f1=float(f1_b[support > 0].mean()) if support.any() else 0.0,
        p_value=paired_bootstrap_greater(counts_a, counts_b, samples),
        f1_drop={
            name: float(f1_b[j] - f1_a[j])
            for j, name in enumerate(names)
            if support[j] >= min_support
        },
    )


def paired_bootstrap_greater(
    challenger: np.ndarray, champion: np.ndarray, samples: int = BOOTSTRAP_SAMPLES
) -> float:
    """One-sided paired bootstrap p-value for "the challenger's micro-F1 is higher": the
    documents resampled with replacement, both models on the same draw each time, and
    the share of draws (with the observed one) where the challenger is not ahead.
    Each argument holds a document's (true positives, false positives, false negatives)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n = len(challenger)
    not_ahead = 0
    for start in range(0, samples, 250):  # 250 draws at a time: bounded memory
        weights = rng.multinomial(n, np.full(n, 1 / n), size=min(250, samples - start))
        diff = _micro_f1_rows(weights @ challenger) - _micro_f1_rows(weights @ champion)
        not_ahead += int((diff <= 0).sum())
    return (1 + not_ahead) / (1 + samples)


def multilabel_challenger_wins(
    comparison: MultilabelComparison, params: GateParams
) -> tuple[bool, str]:
    """The decision and a sentence that says why, naming every failed condition."""
    c = comparison
    worst, drop = c.worst_drop()
    summary = (
        f"test micro-F1 {c.challenger_micro_f1:.4f} vs champion {c.champion_micro_f1:.4f} "
        f"({c.improvement:+.4f}), macro-F1 {c.challenger_macro_f1:.4f} vs "
        f"{c.champion_macro_f1:.4f}, on {c.documents} documents; paired bootstrap "
        f"p={c.p_value:.3g}"
    )
    guard = None if worst is None else (f"F1 of label {worst!r}", drop)
    wins, reason = gate_decision("micro-F1", c.improvement, c.p_value, guard, summary, params)
    return wins, f"{reason}; worst frequent-label F1 drop {drop:+.4f}" if wins else reason


def _indicators(rows: list[list[str]], names: list[str]) -> np.ndarray:
    index = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(rows), len(names)), dtype=bool)
    for i, row in enumerate(rows):
        matrix[i, [index[str(name)] for name in row]] = True
    return matrix


def _document_counts(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Each document's (true positives, false positives, false negatives), float64."""
    return np.stack(
        [(truth & predicted).sum(1), (~truth & predicted).sum(1), (truth & ~predicted).sum(1)],
        axis=1,
    ).astype(np.float64)


def _micro_f1(counts: np.ndarray) -> float:
    return float(_micro_f1_rows(counts[None, :])[0])


def _micro_f1_rows(counts: np.ndarray) -> np.ndarray:
    """Micro-F1 of each row of summed (tp, fp, fn); 0 where there is nothing to count."""
    denominator = 2 * counts[:, 0] + counts[:, 1] + counts[:, 2]
    return np.where(denominator > 0, 2 * counts[:, 0] / np.maximum(denominator, 1), 0.0)


def _label_f1(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    tp = (truth & predicted).sum(0)
    denominator = truth.sum(0) + predicted.sum(0)
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
