"""Split assignment: the source's own test and val are kept; the rest is decided by hash."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from doclstm.sources.splits import UNLABELLED, assign_split

IDS = st.text(min_size=1, max_size=40)
FRACTIONS = st.floats(0.01, 0.4)


@given(IDS, st.sampled_from(["test", "val"]), FRACTIONS, FRACTIONS)
def test_the_sources_own_test_and_val_are_kept(
    doc_id: str, split: str, test: float, val: float
) -> None:
    assert assign_split(doc_id, split, True, test, val) == split


@given(IDS, st.sampled_from([None, "train"]), FRACTIONS, FRACTIONS)
def test_the_rest_is_decided_by_the_id_alone(
    doc_id: str, split: str | None, test: float, val: float
) -> None:
    first = assign_split(doc_id, split, True, test, val)
    assert first == assign_split(doc_id, split, True, test, val)
    assert first in (("train", "val") if split == "train" else ("train", "val", "test"))
    assert assign_split(doc_id, split, False, test, val) == UNLABELLED
