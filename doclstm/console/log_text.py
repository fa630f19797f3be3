"""How stage log lines say what they counted: words, not Python reprs."""

from __future__ import annotations

from collections.abc import Mapping


def counted(count: int, noun: str) -> str:
    """`count` and `noun`, plural unless one: "1 shard", "3 shards", "1,200 documents"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def reasons_note(counts: Mapping[str, int]) -> str:
    """`{"empty text": 2, "leakage": 1}` as " (2 empty text, 1 leakage)", largest first,
    to follow a count in a log line; "" when there is nothing to count."""
    items = sorted(((n, k) for k, n in counts.items() if n), key=lambda nk: (-nk[0], nk[1]))
    return f" ({', '.join(f'{n:,} {k}' for n, k in items)})" if items else ""


def figures(values: Mapping[str, float]) -> str:
    """`{"1": 0.95, "4": 0.9612}` as "1 0.9500, 4 0.9612": a setting tried and its score."""
    return ", ".join(f"{key} {value:.4f}" for key, value in values.items())
