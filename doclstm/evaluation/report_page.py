"""The evaluation report as one HTML page a browser opens from disk: the headline
metrics with their 95% intervals, the per-class table, the confusion matrix, accuracy
by length, the plots (embedded, so the page travels alone, as an MLflow artifact too)
and the mistakes the model was surest of."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

MISTAKES_SHOWN = 10
EXCERPT_CHARS = 400
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child, td.text, td.name { text-align: left; }
td.text { max-width: 640px; font-size: .92em; color: #444; }
.headline td { font-size: 1.1em; } .muted { color: #777; }
.diagonal { background: #e6f2e6; } .off { background: #fbe9e7; }
.plots img { max-width: 520px; margin: .5em 1em .5em 0; border: 1px solid #eee;
             vertical-align: top; }
"""


@dataclass(frozen=True)
class Mistake:
    """A test document the model got wrong: what it is, what it said and how sure it was,
    and the start of the text as the model read it."""

    doc_id: str
    label: str
    predicted: str
    confidence: float
    excerpt: str


def surest_mistakes(
    doc_ids: Sequence[str],
    label_ids: Sequence[int],
    probabilities: Sequence[Sequence[float]],
    labels: Sequence[str],
    text_of: Callable[[int], str],
    shown: int = MISTAKES_SHOWN,
) -> list[Mistake]:
    """The `shown` wrong predictions with the highest confidence, surest first;
    `text_of(i)` gives the text of document i (only the shown ones are asked for)."""
    wrong = []
    for i, (truth, probs) in enumerate(zip(label_ids, probabilities, strict=True)):
        predicted = max(range(len(probs)), key=probs.__getitem__)
        if predicted != truth:
            wrong.append((-float(probs[predicted]), doc_ids[i], i, predicted))
    return [
        Mistake(doc_id, labels[label_ids[i]], labels[predicted], -negative, text_of(i))
        for negative, doc_id, i, predicted in sorted(wrong)[:shown]
    ]


def evaluation_page(
    title: str,
    metrics: Mapping[str, Any],
    labels: Sequence[str],
    plots: Mapping[str, Path],
    mistakes: Sequence[Mistake],
) -> str:
    """The whole page; every text from the data is escaped."""
    sections = [
        f"<h1>{escape(title)}</h1>",
        _headline(metrics),
        "<h2>Per class</h2>",
        _per_class(metrics["per_class"], labels),
        "<h2>Confusion matrix</h2><p class=muted>rows: the given label; columns: the "
        "prediction</p>",
        _confusion(metrics["confusion_matrix"], labels),
        "<h2>Accuracy by length</h2><p class=muted>tokens before the cut at "
        "tokenize.max_tokens</p>",
        _by_length(metrics["accuracy_by_length"]),
        f"<h2>The {len(mistakes)} mistakes the model was surest of</h2>",
        _mistakes(mistakes),
        "<h2>Plots</h2>",
        _plots(plots),
    ]
    return _page(title, sections)


def multilabel_page(
    title: str, metrics: Mapping[str, Any], labels: Sequence[str], plots: Mapping[str, Path]
) -> str:
    """The page of a model of several labels a document: headline, per label, plots."""
    sections = [
        f"<h1>{escape(title)}</h1>",
        _headline(metrics, _MULTILABEL_HEADLINE),
        f"<p class=muted>{metrics['labels_per_document']:.2f} labels a document given, "
        f"{metrics['predicted_labels_per_document']:.2f} predicted; each label decided at "
        "its own threshold, tuned on val</p>",
        "<h2>Per label</h2>",
        _per_class(metrics["per_label"], labels),
        "<h2>Plots</h2>",
        _plots(plots),
    ]
    return _page(title, sections)


def _page(title: str, sections: list[str]) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )


_CALIBRATION = (
    ("log_loss", "log loss"),
    ("expected_calibration_error", "expected calibration error"),
    ("expected_calibration_error_floor", "its floor: a calibrated model's, as many documents"),
)
_SINGLE_LABEL_HEADLINE = (
    ("accuracy", "accuracy"),
    ("macro_f1", "macro-F1"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    *_CALIBRATION,
)
_MULTILABEL_HEADLINE = (
    ("micro_f1", "micro-F1"),
    ("macro_f1", "macro-F1"),
    ("samples_f1", "samples-F1"),
    ("subset_accuracy", "subset accuracy (every label right)"),
    ("hamming_loss", "Hamming loss"),
    ("label_ranking_average_precision", "label-ranking average precision"),
    *_CALIBRATION,
)


def _headline(
    metrics: Mapping[str, Any], shown: Sequence[tuple[str, str]] = _SINGLE_LABEL_HEADLINE
) -> str:
    intervals = metrics.get("intervals_95", {})
    rows = []
    for key, name in shown:
        if metrics.get(key) is None:
            continue
        low_high = intervals.get(key)
        interval = f"{low_high[0]:.4f} to {low_high[1]:.4f}" if low_high else ""
        rows.append(f"<tr><td>{name}</td><td>{metrics[key]:.4f}</td><td>{interval}</td></tr>")
    return (
        f"<p>{metrics['documents']:,} test documents.</p><table class=headline>"
        "<tr><th>metric</th><th>value</th><th>95% interval</th></tr>" + "".join(rows) + "</table>"
    )


def _per_class(per_class: Mapping[str, Mapping[str, Any]], labels: Sequence[str]) -> str:
    columns = ("support", "precision", "recall", "f1", "roc_auc", "pr_auc")
    head = "".join(f"<th>{c}</th>" for c in ("label", *columns))
    rows = []
    for label in labels:
        figures = per_class[label]
        cells = "".join(f"<td>{_number(figures.get(c))}</td>" for c in columns)
        rows.append(f"<tr><td>{escape(label)}</td>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    head = "<th></th>" + "".join(f"<th>{escape(label)}</th>" for label in labels)
    rows = []
    for i, (label, counts) in enumerate(zip(labels, matrix, strict=True)):
        cells = "".join(
            f"<td class={'diagonal' if i == j else 'off' if n else ''}>{n}</td>"
            for j, n in enumerate(counts)
        )
        rows.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _by_length(buckets: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{b['min_tokens']:,} to {b['max_tokens']:,}</td><td>{b['documents']:,}</td>"
        f"<td>{b['accuracy']:.4f}</td></tr>"
        for b in buckets
    )
    return f"<table><tr><th>tokens</th><th>documents</th><th>accuracy</th></tr>{rows}</table>"


def _mistakes(mistakes: Sequence[Mistake]) -> str:
    if not mistakes:
        return "<p>None: every test document was right.</p>"
    rows = "".join(
        f"<tr><td>{escape(m.doc_id)}</td><td class=name>{escape(m.label)}</td>"
        f"<td class=name>{escape(m.predicted)}</td><td>{m.confidence:.3f}</td>"
        f"<td class=text>{escape(_excerpt(m.excerpt))}</td></tr>"
        for m in mistakes
    )
    return (
        "<p class=muted>the text as the model read it (after the tokenizer's normalization)"
        "</p><table><tr><th>doc_id</th><th>label</th><th>predicted</th><th>confidence</th>"
        f"<th>text</th></tr>{rows}</table>"
    )


def _plots(plots: Mapping[str, Path]) -> str:
    images = "".join(
        f"<img alt='{escape(name)}' title='{escape(name)}' src='data:image/png;base64,"
        f"{base64.b64encode(path.read_bytes()).decode('ascii')}'>"
        for name, path in plots.items()
    )
    return f"<div class=plots>{images}</div>"


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4f}"
