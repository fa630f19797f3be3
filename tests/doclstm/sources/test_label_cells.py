"""A label cell read as one label, several, "no label", or refused with its reason."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doclstm.sources.label_cells import LabelCell, read_label_cell

# Labels as a table would hold them: no separator inside, no surrounding blanks, NFC (a
# cell is NFC-normalised as any text is).
LABEL = st.text(
    st.characters(exclude_characters="|", exclude_categories=("C", "Z")), min_size=1
).filter(lambda label: unicodedata.is_normalized("NFC", label))


@given(st.lists(LABEL, min_size=2, max_size=6, unique=True))
def test_several_labels_read_the_same_from_a_list_and_a_separated_cell(labels: list[str]) -> None:
    assert read_label_cell(labels, None, False) == LabelCell(labels=tuple(labels))
    assert read_label_cell(" | ".join(labels), "|", False) == LabelCell(labels=tuple(labels))


@given(LABEL)
def test_one_label_in_a_separated_cell_is_a_single_label(label: str) -> None:
    assert read_label_cell(label, "|", False) == LabelCell(label=label)
    assert read_label_cell([label], None, False) == LabelCell(labels=(label,))  # a list stays one


def test_a_text_cell_without_a_separator_is_one_label_whatever_it_holds() -> None:
    assert read_label_cell("sport|politics", None, False) == LabelCell(label="sport|politics")
    assert read_label_cell(3, None, False) == LabelCell(label="3")
    assert read_label_cell("  ", None, True) == LabelCell()  # unlabelled


def test_no_label_is_kept_only_where_the_source_allows_it() -> None:
    assert read_label_cell([], None, True) == LabelCell(labels=())
    assert read_label_cell("", "|", True) == LabelCell(labels=())
    assert read_label_cell(None, "|", True) == LabelCell(labels=())
    assert read_label_cell(None, "|", False) == LabelCell()  # an unlabelled document
    refused = read_label_cell([], None, False)
    assert refused.refused == "empty label list (a source's allow_no_label: true keeps it)"
    assert refused.shown == "[]"


@pytest.mark.parametrize(
    ("cell", "separator", "reason"),
    [
        (["joy", 3], None, "label list holds a non-string (3)"),
        (["joy", None], None, "label list holds a non-string (None)"),
        (["joy", ["nested"]], None, "label list holds a non-string (['nested'])"),
        (["joy", "  "], None, "label list holds an empty label"),
        (["joy", "fear", "joy"], None, "label 'joy' twice in the label list"),
        ("joy||fear", "|", "empty label in 'joy||fear' (label_separator '|')"),
        ("joy; fear ;joy", ";", "label 'joy' twice in 'joy; fear ;joy'"),
    ],
)
def test_a_bad_label_list_is_refused_with_its_reason(
    cell: object, separator: str | None, reason: str
) -> None:
    read = read_label_cell(cell, separator, True)
    assert (read.label, read.labels, read.refused) == (None, None, reason)
    assert read.shown  # the quarantine keeps what the cell held
