"""The Great Expectations suite for ingested documents, and the rows it rejects.

Row-level expectations map failing rows to a reason; `run_suite` returns,
for every rejected row index, the first reason found, and writes the HTML
Data Docs for a person to open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from doclstm.splits import SPLITS, UNLABELLED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuiteOutcome:
    reasons: dict[int, str]  # row index -> first failing expectation's reason
    expectations: list[dict[str, Any]]  # one summary per expectation
    success: bool


def build_expectations(labels: list[str], min_chars: int, max_chars: int) -> list[Any]:
    """The row-level expectations every ingested document must meet."""
    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(column="text"),
        e.ExpectColumnValuesToMatchRegex(column="text", regex=r"\S"),
        e.ExpectColumnValueLengthsToBeBetween(
            column="text", min_value=min_chars, max_value=max_chars
        ),
        e.ExpectColumnValuesToBeInSet(column="label", value_set=labels),
        e.ExpectColumnValuesToBeUnique(column="doc_id"),
        e.ExpectColumnValuesToBeInSet(column="split", value_set=[*SPLITS, UNLABELLED]),
    ]


_REASONS = {
    "expect_column_values_to_not_be_null": "text is null",
    "expect_column_values_to_match_regex": "text is empty or whitespace only",
    "expect_column_value_lengths_to_be_between": "text length outside validate.min_chars..validate.max_chars",  # noqa: E501
    "expect_column_values_to_be_unique": "duplicate doc_id",
}


def run_suite(frame: pd.DataFrame, expectations: list[Any], docs_dir: Path) -> SuiteOutcome:
    """Validate `frame` (default RangeIndex) and write Data Docs under `docs_dir`."""
    context = gx.get_context(mode="ephemeral", project_config=_context_config(docs_dir))
    batch = (
        context.data_sources.add_pandas("documents")
        .add_dataframe_asset("ingested")
        .add_batch_definition_whole_dataframe("all_rows")
    )
    suite = context.suites.add(
        gx.ExpectationSuite(name="ingested_documents", expectations=expectations)
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="ingested_documents", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="validate",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "COMPLETE"},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    reasons: dict[int, str] = {}
    summaries = []
    for suite_result in result.run_results.values():
        for res in suite_result.results:
            config = res.expectation_config
            assert config is not None, "GE returns the configuration of every result"
            kind = config.type
            column = config.kwargs.get("column")
            bad = [int(i) for i in res.result.get("unexpected_index_list") or []]
            if kind == "expect_column_values_to_be_unique":
                bad = _all_but_first(frame, "doc_id", bad)
            reason = _REASONS.get(kind, f"{column} not in the allowed set")
            for index in bad:
                reasons.setdefault(index, reason)
            summaries.append(
                {
                    "expectation": kind,
                    "column": column,
                    "success": bool(res.success),
                    "unexpected_count": len(bad),
                }
            )
    return SuiteOutcome(reasons, summaries, bool(result.success))


def _all_but_first(frame: pd.DataFrame, column: str, indices: list[int]) -> list[int]:
    """Of duplicated values keep the first row; only the later copies are rejected."""
    dupes = frame.loc[sorted(indices), column].duplicated(keep="first")
    return [int(i) for i in dupes[dupes].index]


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
