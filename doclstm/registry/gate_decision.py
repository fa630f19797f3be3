"""The gate's three conditions, shared by both comparisons (doclstm/registry/gate_rules.py
for one label a document, doclstm/registry/multilabel_gate_rules.py for several): the
headline metric up by at least `min_improvement`, the paired test's p-value under
`alpha`, and the guarded figure down by no more than `max_recall_drop`."""

from __future__ import annotations

from doclstm.config.params import GateParams


def gate_decision(
    metric: str,
    improvement: float,
    p_value: float,
    guard: tuple[str, float] | None,
    summary: str,
    params: GateParams,
) -> tuple[bool, str]:
    """Whether the challenger wins, and a sentence naming every failed condition;
    `guard` is what the guardrail watches ("recall of class 'x'") and its drop, None
    when nothing is guarded."""
    failures = []
    if improvement < params.min_improvement or improvement <= 0:
        failures.append(
            f"{metric} gain {improvement:+.4f} is not above gate.min_improvement "
            f"{params.min_improvement}"
        )
    if p_value >= params.alpha:
        failures.append(f"not significant (p={p_value:.3g} >= gate.alpha {params.alpha})")
    if guard is not None and guard[1] > params.max_recall_drop:
        failures.append(
            f"{guard[0]} drops by {guard[1]:.4f} > gate.max_recall_drop {params.max_recall_drop}"
        )
    if failures:
        return False, f"challenger rejected: {'; '.join(failures)}. {summary}"
    return True, f"challenger is better: {summary}"
