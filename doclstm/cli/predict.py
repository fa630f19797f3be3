"""`doclstm predict`: classify a few texts from the command line with any model.

The documents come from the text arguments, from `--file` (each file one document, or
one a line with `--lines`), or from standard input when neither is given. The model is
resolved as `doclstm score` resolves it (a model folder, `models:/<name>/<version>`,
`models:/<name>@<alias>`; the registry champion by default) and read with the same
predictor, long documents included; an empty text is not scored and says so. The
answer is a table, or with `json_lines` one JSON object a document: the columns of
doclstm/scoring/prediction_columns.py, with the probabilities as a mapping.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from doclstm.errors import DoclstmError
from doclstm.scoring.prediction_columns import (
    CONFIDENCE,
    PREDICTED,
    PROBABILITIES,
    REASON,
    predicted_rows,
)

EXCERPT = 60  # characters of a text the table shows


@dataclass(frozen=True)
class Document:
    source: str  # "argument 1", a file's path, "stdin", or "<path>:<line>"
    text: str


def read_documents(
    texts: Iterable[str], files: Iterable[Path], lines: bool, stdin: TextIO
) -> list[Document]:
    """The documents to classify, in the order given; standard input only when there are
    neither texts nor files."""
    documents = [Document(f"argument {i}", text) for i, text in enumerate(texts, 1)]
    for path in files:
        try:
            content = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise DoclstmError(f"predict: {path}: {exc.strerror or exc}") from exc
        documents += _split(str(path), content, lines)
    if not documents:
        if stdin.isatty():
            raise DoclstmError(
                "predict: no text given; pass texts as arguments, --file PATH, or pipe them "
                "in (one document, or one a line with --lines)"
            )
        documents = _split("stdin", stdin.read(), lines)
    return documents


def _split(source: str, content: str, lines: bool) -> list[Document]:
    if not lines:
        return [Document(source, content)]
    return [
        Document(f"{source}:{n}", line) for n, line in enumerate(content.splitlines(), 1) if line
    ]


def predictions(
    documents: list[Document],
    model_dir: Path,
    batch_tokens: int,
    long_documents: Literal["truncate", "window"],
) -> list[dict[str, Any]]:
    """One record a document: source, the prediction columns, reason."""
    from doclstm.models.device import pick_device
    from doclstm.models.model_folder import load_model_dir
    from doclstm.scoring.predictor import TextPredictor

    device = pick_device("auto")
    predictor = TextPredictor(
        load_model_dir(model_dir, device), batch_tokens, str(device), long_documents
    )
    rows = predicted_rows(predictor, [d.text for d in documents])
    return [
        {
            "source": document.source,
            PREDICTED: row[PREDICTED],
            CONFIDENCE: row[CONFIDENCE],
            PROBABILITIES: None
            if row[PROBABILITIES] is None
            else dict(zip(predictor.labels, row[PROBABILITIES], strict=True)),
            REASON: row[REASON],
        }
        for document, row in zip(documents, rows, strict=True)
    ]


def print_predictions(
    records: list[dict[str, Any]],
    documents: list[Document],
    model: str,
    json_lines: bool,
    console: Console,
    top: int = 3,
) -> None:
    if json_lines:
        for record in records:
            sys.stdout.write(json.dumps(record | {"model": model}) + "\n")
        return
    table = Table(title=f"predictions of {model}", title_justify="left")
    table.add_column("document", overflow="fold")
    table.add_column("predicted")
    table.add_column("confidence", justify="right")
    table.add_column(f"top {top}")
    for record, document in zip(records, documents, strict=True):
        text = " ".join(document.text.split())
        shown = text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
        if record["predicted"] is None:
            table.add_row(escape(shown), "-", "-", f"[yellow]{record[REASON]}[/]")
            continue
        ranked = sorted(record["probabilities"].items(), key=lambda kv: -kv[1])[:top]
        table.add_row(
            escape(shown),
            f"[bold]{escape(_shown(record['predicted']))}[/]",
            f"{record['confidence']:.3f}",
            ", ".join(f"{escape(label)} {p:.3f}" for label, p in ranked),
        )
    console.print(table)


def _shown(predicted: str | list[str]) -> str:
    """A label, or the labels of a model of several labels a document."""
    return predicted if isinstance(predicted, str) else ", ".join(predicted)
