"""The Great Expectations suites for ingested documents, and the rows they reject.

`DocumentSuite` runs the row-level expectations on one batch of documents
at a time (a part of the ingested data, so memory is bounded by a part) and
maps each failing row to a reason. What only the whole dataset can tell (a doc_id
repeated from any row before, a val/test text that is a train text, a text repeated
from any row before: doclstm/sources/census.py) reaches the suite as three boolean
columns of the batch, so those checks are expectations like the rest, with their
counts on the same Data Docs page; a repeated text is a warning, not quarantined.
A multi-label batch has no `label` to check against the label set: the suite
checks instead a column naming each row's first label outside the set (null when
there is none). The train class checks (at least two classes, each with enough documents, the
balance at warning severity) run once on the train label counts. Every run adds a
page to the HTML Data Docs for a person to open.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.metadata_types import FailureSeverity

from doclstm.sources.census import DUPLICATE_ID
from doclstm.sources.label_task import label_outside
from doclstm.sources.splits import SPLITS, UNLABELLED

log = logging.getLogger(__name__)
# The census's answers for each row, as columns the suite checks (doclstm/sources/census.py).
REPEATS_AN_ID = "repeats_an_earlier_doc_id"
LEAKS_A_TRAIN_TEXT = "has_the_text_of_a_train_document"
REPEATS_A_TEXT = "repeats_an_earlier_text"
CENSUS_COLUMNS = (REPEATS_AN_ID, LEAKS_A_TRAIN_TEXT)  # their reasons come from the census
LABEL_OUTSIDE = "label_outside_the_label_set"  # multi-label rows: the first such label


@dataclass(frozen=True)
class SuiteOutcome:
    reasons: dict[int, str]  # row index -> first failing expectation's reason
    expectations: list[dict[str, Any]]  # one summary per expectation
    success: bool


def build_expectations(
    labels: list[str], min_chars: int, max_chars: int, multi: bool = False
) -> list[Any]:
    """The row-level expectations every ingested document must meet."""
    e = gx.expectations
    label_check = (
        e.ExpectColumnValuesToBeNull(column=LABEL_OUTSIDE)
        if multi
        else e.ExpectColumnValuesToBeInSet(column="label", value_set=labels)
    )
    return [
        e.ExpectColumnValuesToNotBeNull(column="text"),
        e.ExpectColumnValuesToMatchRegex(column="text", regex=r"\S"),
        e.ExpectColumnValueLengthsToBeBetween(
            column="text", min_value=min_chars, max_value=max_chars
        ),
        label_check,
        e.ExpectColumnValuesToBeInSet(column="split", value_set=[*SPLITS, UNLABELLED]),
        e.ExpectColumnValuesToBeInSet(column=REPEATS_AN_ID, value_set=[False]),
        e.ExpectColumnValuesToBeInSet(column=LEAKS_A_TRAIN_TEXT, value_set=[False]),
        e.ExpectColumnValuesToBeInSet(
            column=REPEATS_A_TEXT, value_set=[False], severity=FailureSeverity.WARNING
        ),
    ]


_REASONS = {
    "expect_column_values_to_not_be_null": "text is null",
    "expect_column_values_to_match_regex": "text is empty or whitespace only",
    "expect_column_value_lengths_to_be_between": "text length outside validate.min_chars..validate.max_chars",  # noqa: E501
}


class DocumentSuite:
    """One ephemeral GE context: the document suite, a balance suite, and their Data Docs."""

    def __init__(
        self,
        labels: list[str],
        min_chars: int,
        max_chars: int,
        docs_dir: Path,
        label_reason: str = "label not in the allowed set",
        multi: bool = False,
    ) -> None:
        self._label_reason = label_reason
        self._allowed = frozenset(labels) if multi else None
        self._context = gx.get_context(mode="ephemeral", project_config=_context_config(docs_dir))
        self._pandas = self._context.data_sources.add_pandas("documents")
        self._documents = self._checkpoint(
            "ingested_documents", build_expectations(labels, min_chars, max_chars, multi)
        )

    def validate_rows(
        self,
        frame: pd.DataFrame,
        name: str,
        flagged: dict[int, str],
        repeated_texts: set[int],
    ) -> SuiteOutcome:
        """Validate `frame` (default RangeIndex); `name` titles its page in the Data Docs.
        `flagged` (row index -> reason) holds the census's repeated ids and leaks among
        these rows, `repeated_texts` its rows that repeat an earlier text."""
        census: dict[str, list[Any]] = {
            REPEATS_AN_ID: [flagged.get(i) == DUPLICATE_ID for i in range(len(frame))],
            LEAKS_A_TRAIN_TEXT: [
                i in flagged and flagged[i] != DUPLICATE_ID for i in range(len(frame))
            ],
            REPEATS_A_TEXT: [i in repeated_texts for i in range(len(frame))],
        }
        if self._allowed is not None:
            allowed = self._allowed
            census[LABEL_OUTSIDE] = [label_outside(row, allowed) for row in frame["labels"]]
        frame = frame.assign(**census)
        result = self._documents.run(batch_parameters={"dataframe": frame}, run_id=_run_id(name))
        reasons: dict[int, str] = {}
        summaries = []
        for res in _results(result):
            config = res.expectation_config
            kind, column = config.type, config.kwargs.get("column")
            bad = [int(i) for i in res.result.get("unexpected_index_list") or []]
            warning = config.severity == FailureSeverity.WARNING
            for index in [] if warning else bad:
                if column in CENSUS_COLUMNS:
                    reason = flagged[index]
                elif column == "label":
                    reason = self._label_reason
                elif column == LABEL_OUTSIDE:
                    reason = f"{self._label_reason} ({frame[LABEL_OUTSIDE].iloc[index]!r})"
                else:
                    reason = _REASONS.get(kind, f"{column} not in the allowed set")
                reasons.setdefault(index, reason)
            summaries.append(
                {
                    "expectation": kind,
                    "column": column,
                    "severity": "warning" if warning else "error",
                    "success": bool(res.success),
                    "unexpected_count": len(bad),
                }
            )
        # The suite succeeds when no error-level expectation fails.
        success = all(s["success"] for s in summaries if s["severity"] == "error")
        return SuiteOutcome(reasons, summaries, success)

    def check_train_classes(
        self, counts: dict[str, int], max_ratio: float, min_documents: int
    ) -> dict[str, Any]:
        """The train classes as the Data Docs show them: at least two, each with
        `min_documents` or more, and (a warning) the smallest at least 1/`max_ratio` of
        the largest; the balance's figures, as summary.json keeps them."""
        e = gx.expectations
        floor = math.ceil(max(counts.values()) / max_ratio)
        checkpoint = self._checkpoint(
            "train_classes",
            [
                e.ExpectTableRowCountToBeBetween(min_value=2),
                e.ExpectColumnValuesToBeBetween(column="documents", min_value=min_documents),
                e.ExpectColumnMinToBeBetween(
                    column="documents", min_value=floor, severity=FailureSeverity.WARNING
                ),
            ],
        )
        frame = pd.DataFrame({"label": list(counts), "documents": list(counts.values())})
        result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=_run_id("classes"))
        warning = FailureSeverity.WARNING
        balance = next(r for r in _results(result) if r.expectation_config.severity == warning)
        ratio = max(counts.values()) / max(min(counts.values()), 1)
        return {
            "expectation": "expect_column_min_to_be_between",
            "column": "documents",
            "severity": "warning",
            "success": bool(balance.success),
            "largest_to_smallest": round(ratio, 3),
            "max_class_ratio": max_ratio,
            "counts": counts,
        }

    def _checkpoint(self, name: str, expectations: list[Any]) -> Any:
        batch = self._pandas.add_dataframe_asset(name).add_batch_definition_whole_dataframe("batch")
        suite = self._context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        definition = self._context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        return self._context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
                result_format={"result_format": "COMPLETE"},
            )
        )


def _run_id(name: str) -> RunIdentifier:
    return RunIdentifier(run_name=name)


def _results(result: Any) -> list[Any]:
    found = []
    for suite_result in result.run_results.values():
        for res in suite_result.results:
            assert res.expectation_config is not None, "GE returns every result's config"
            found.append(res)
    return found


def _context_config(docs_dir: Path) -> DataContextConfig:
    return DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={
            "local": {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir.resolve()),  # GE insists on absolute
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
