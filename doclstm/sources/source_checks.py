"""What a source's counts say a user should hear: nothing read, labels that went unread.

Ingest reads each source as it is told to; these checks look at what came of
it and return warnings (one line each, naming the source and what to set) for
the log and the run summary. A source with no documents, a table read as
unlabelled while its default label column is missing (the more so when another
column looks like labels), and a tree read as unlabelled while files in
sub-folders were refused as outside the layout are each worth a line; a table
with `label_column: null` is unlabelled on purpose and says nothing.
"""

from __future__ import annotations

from doclstm.sources.resolve import ResolvedSource
from doclstm.sources.table_rows import table_columns

# Column names that usually hold a document's class (compared in lower case).
LABEL_LIKE = frozenset(
    {"label", "labels", "class", "category", "categories", "sentiment", "target", "topic"}
    | {"tag", "tags", "genre", "polarity", "y", "rating", "stars"}
)
TABLES = ("csv", "jsonl", "parquet")


def source_warnings(
    source: ResolvedSource,
    seen: int,
    labelled: int,
    outside_layout: int,
    replaced: int,
    max_document_bytes: int,
) -> list[str]:
    """Warnings about one ingested source, from its counts."""
    name = source.name
    if seen == 0:
        return [
            f"{name}: no documents found in {source.path}; check ingest.source (a folder of "
            "<label>/*.txt, an archive of one, or a table with a text column)"
        ]
    warnings = []
    if labelled == 0 and source.format in TABLES and source.spec.label_column is not None:
        columns = table_columns(source.path, source.format, source.spec, max_document_bytes)
        if source.spec.label_column in columns:
            warnings.append(
                f"{name}: column {source.spec.label_column!r} is empty in every row, so all "
                f"{seen} documents are unlabelled"
            )
        else:
            lookalike = [c for c in columns if c.strip().lower() in LABEL_LIKE]
            hint = (
                f"; column {lookalike[0]!r} looks like labels: set the source's "
                f"label_column: {lookalike[0]}"
                if lookalike
                else ""
            )
            warnings.append(
                f"{name}: no column {source.spec.label_column!r}, so all {seen} documents are "
                f"unlabelled{hint} (label_column: null says unlabelled on purpose)"
            )
    elif labelled == 0 and outside_layout:
        warnings.append(
            f"{name}: read as unlabelled files, and {_count(outside_layout, 'file')} in "
            "sub-folders were refused as outside the layout; if those folders are labels, set "
            "the source's layout: labels (or splits for <train|test>/<label>/)"
        )
    if replaced:
        warnings.append(
            f"{name}: {_count(replaced, 'document')} had undecodable or NUL bytes replaced with "
            "U+FFFD (decode_errors is true on those rows); is the source UTF-8?"
        )
    return warnings


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
