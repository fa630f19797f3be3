"""One label a document or several: which the dataset is, and its rows in that form.

`validate.task` says single, multi or auto; auto is multi when any document's
labels come as a list (several labels, or a labelled "no label"). A
single-label pipeline given a document with several labels fails here, naming
the setting. After validate every row holds its labels one way: `label` for a
single-label dataset, `labels` (a list, possibly empty) for a multi-label one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from doclstm.config.params import ValidateParams
from doclstm.errors import DoclstmError
from doclstm.sources.census import Census

log = logging.getLogger(__name__)
NO_LABEL_IN_SINGLE = "no label, and validate.task is single"
ONLY_RARE_LABELS = "every label under validate.min_class_documents"


@dataclass(frozen=True)
class LabelTask:
    kind: Literal["single", "multi"]
    # multi-label, rare_labels: drop: the labels taken off, with their train documents
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def multi(self) -> bool:
        return self.kind == "multi"

    def normalise(self, row: dict[str, Any]) -> str | None:
        """Put `row`'s labels in this task's form (in place); the reason to quarantine
        it, if the form cannot hold it."""
        label, labels = row["label"], row["labels"]
        if self.multi:
            if labels is None:
                labels = None if label is None else [label]
            elif self.dropped and labels:
                kept = [name for name in labels if name not in self.dropped]
                if not kept:
                    row["label"], row["labels"] = None, labels
                    return f"{ONLY_RARE_LABELS} ({', '.join(labels)})"
                labels = kept
            row["label"], row["labels"] = None, labels
            return None
        if labels is not None:
            if not labels:
                return NO_LABEL_IN_SINGLE
            (label,) = labels  # resolve_task refused several under single
        row["label"], row["labels"] = label, None
        return None


def resolve_task(params: ValidateParams, census: Census) -> LabelTask:
    if params.task == "single" and census.several:
        raise DoclstmError(
            f"validate: {census.several} document(s) have several labels (the first: "
            f"{census.first_several!r}), and validate.task is single; set validate.task: "
            "multi (or auto) to train one output a label"
        )
    multi = params.task == "multi" or (params.task == "auto" and census.listed > 0)
    if not multi:
        return LabelTask("single")
    if params.task == "auto":
        log.info(
            "validate: several labels a document (validate.task auto): %d document(s) "
            "have their labels as a list, %d of them several",
            census.listed,
            census.several,
        )
    dropped = {}
    if params.rare_labels == "drop":
        counts = census.train_labels | {
            name: 0 for name in params.labels if name not in census.train_labels
        }
        dropped = {name: n for name, n in sorted(counts.items()) if n < params.min_class_documents}
        if dropped:
            log.warning(
                "validate: %d label(s) under validate.min_class_documents (%d) taken off their "
                "documents (validate.rare_labels: drop): %s",
                len(dropped),
                params.min_class_documents,
                ", ".join(f"{name} ({n})" for name, n in dropped.items()),
            )
    return LabelTask("multi", dropped)


def label_outside(labels: Iterable[str] | None, allowed: frozenset[str]) -> str | None:
    """The first of a multi-label row's labels that is not in `allowed`."""
    if labels is None:
        return None
    return next((name for name in labels if name not in allowed), None)
