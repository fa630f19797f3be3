"""evaluate: score the test split with the trained model and report.

Output contract (`reports/`): `metrics.json` (accuracy and macro-F1 with 95%
bootstrap intervals, ROC-AUC and PR-AUC (one-vs-rest when multi-class), log
loss, expected calibration error with its bins, per-class
precision/recall/F1/ROC-AUC/PR-AUC, confusion matrix, accuracy by length
bucket (tokens before the cut)), `plots/{confusion_matrix,roc,precision_recall,reliability,
accuracy_by_length}.png`, `test_predictions.parquet` (doc_id, label_id, label:
the truth, then the prediction columns `doclstm score` writes: predicted,
confidence, prob_<label> a class, probabilities; so any two models can be compared
row by row), `evaluation.html` (all of it on one page that opens from disk, with the
mistakes the model was surest of), and `evaluate.manifest.json`.

A model of several labels a document writes the multi-label metrics instead
(doclstm/evaluation/multilabel_metrics.py: micro-, macro-, samples-F1, subset
accuracy, Hamming loss, ranking precision, per-label figures, calibration),
`plots/{label_f1,labels_per_document,precision_recall,reliability}.png`, and
predictions with the truth as `labels` (a list) and `predicted` a list, each label
decided at the threshold the model was given on val.

Run: `doclstm stage evaluate`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from doclstm.config.params import EvaluateParams
from doclstm.config.workspace import EVALUATION_REPORT
from doclstm.evaluation.label_decisions import decide, label_lists
from doclstm.evaluation.metrics import accuracy_by_length, classification_metrics
from doclstm.evaluation.multilabel_metrics import multilabel_metrics
from doclstm.evaluation.plots import (
    plot_accuracy_by_length,
    plot_confusion_matrix,
    plot_label_counts,
    plot_label_f1,
    plot_label_precision_recall,
    plot_precision_recall,
    plot_reliability,
    plot_roc,
)
from doclstm.evaluation.report_page import evaluation_page, multilabel_page, surest_mistakes
from doclstm.models.cuts import documents_over_max_chunks
from doclstm.models.inference import predict_probabilities
from doclstm.models.model_folder import WEIGHTS, LoadedModel, load_model_dir, verify_model_dir
from doclstm.scoring.prediction_columns import prediction_table
from doclstm.storage.atomic import atomic_path, write_json
from doclstm.storage.manifest import StageManifest, file_entry, fresh_manifest, stage_fingerprint
from doclstm.storage.tables import write_table
from doclstm.storage.token_data import TokenSplit, full_lengths, load_split
from doclstm.training.window_cache import window_cache

DEVICE = torch.device("cpu")  # predict_probabilities' default
log = logging.getLogger(__name__)
MANIFEST = "evaluate.manifest.json"
METRICS = "metrics.json"
PREDICTIONS = "test_predictions.parquet"
PLOTS = {
    name: f"plots/{name}.png"
    for name in ("confusion_matrix", "roc", "precision_recall", "reliability", "accuracy_by_length")
}
MULTILABEL_PLOTS = {
    name: f"plots/{name}.png"
    for name in ("label_f1", "labels_per_document", "precision_recall", "reliability")
}
REPORT = EVALUATION_REPORT
OUTPUTS = (METRICS, PREDICTIONS, REPORT, *PLOTS.values())
MULTILABEL_OUTPUTS = (METRICS, PREDICTIONS, REPORT, *MULTILABEL_PLOTS.values())
EXCERPT_TOKENS = 120  # of a mistake's text, decoded for the report
BOOTSTRAP_SEED = 0  # fixed: the same predictions always give the same intervals


@dataclass(frozen=True)
class EvaluateResult:
    metrics_file: Path
    plots: list[Path]
    predictions_file: Path
    report_file: Path
    accuracy: float  # several labels a document: the subset accuracy (every label right)
    macro_f1: float
    cached: bool
    micro_f1: float | None = None  # several labels a document

    @property
    def headline(self) -> str:
        """The test figures a summary shows."""
        if self.micro_f1 is None:
            return f"accuracy {self.accuracy:.4f}, macro-F1 {self.macro_f1:.4f}"
        return (
            f"micro-F1 {self.micro_f1:.4f}, macro-F1 {self.macro_f1:.4f}, subset accuracy "
            f"{self.accuracy:.4f}"
        )


def evaluate_model(
    params: EvaluateParams, model_dir: Path, tokens_dir: Path, out_dir: Path
) -> EvaluateResult:
    """Metrics, plots and per-document predictions for the test split."""
    model_manifest = verify_model_dir(model_dir)  # also before reusing: a damaged model fails
    tokens = StageManifest.load(tokens_dir)
    # The weights' hash, not only the training fingerprint: a model retrained by other code
    # from the same settings and data must not be judged by the old model's predictions.
    fingerprint = stage_fingerprint(
        "evaluate",
        __name__,
        params,
        model=model_manifest.fingerprint,
        weights=model_manifest.files[WEIGHTS].sha256,
        tokens=tokens.fingerprint,
    )
    cached = fresh_manifest(out_dir, fingerprint, MANIFEST)
    # A manifest written before this code wrote some output (the report) is not reused.
    outputs = MULTILABEL_OUTPUTS if model_manifest.summary.get("thresholds") else OUTPUTS
    if cached is not None and set(outputs) <= set(cached.files):
        log.info("evaluate: model and data unchanged, reusing %s", out_dir / METRICS)
        return _result(out_dir, cached, cached=True)

    loaded = load_model_dir(model_dir)
    if loaded.model.window_encoder is not None:  # MiniLM windows: the train stage's cache
        window_cache(tokens_dir, loaded.model.config, loaded.model.window_encoder, DEVICE)
    test = load_split(tokens_dir, "test", tokens)
    probs = predict_probabilities(loaded.model, test.sequences, params.batch_tokens)
    title = f"Evaluation of {model_dir.name} ({model_manifest.fingerprint[:6]}) on the test split"
    if loaded.thresholds is not None:
        summary = _evaluate_multilabel(params, loaded, test, probs, out_dir, title)
        manifest = StageManifest("evaluate", fingerprint, summary.pop("files"), summary)
        manifest.write(out_dir, MANIFEST)
        return _result(out_dir, manifest, cached=False)
    y = test.label_ids
    metrics = classification_metrics(
        y, probs, loaded.labels, BOOTSTRAP_SEED, params.bootstrap_samples
    )
    lengths = full_lengths(tokens_dir, "test", tokens, test.doc_ids)  # before the cut
    metrics["accuracy_by_length"] = accuracy_by_length(y, probs, lengths)
    metrics["model_best_epoch"] = model_manifest.summary["best_epoch"]
    # Hierarchical models read at most max_chunks windows: say how many documents lost text.
    metrics["documents_over_max_chunks"] = documents_over_max_chunks(
        loaded.model.config, test.lengths
    )
    write_json(out_dir / METRICS, metrics)
    plots = {name: out_dir / rel for name, rel in PLOTS.items()}
    plot_confusion_matrix(metrics["confusion_matrix"], loaded.labels, plots["confusion_matrix"])
    plot_roc(y, probs, loaded.labels, plots["roc"])
    plot_precision_recall(y, probs, loaded.labels, plots["precision_recall"])
    ece = metrics["expected_calibration_error"]
    plot_reliability(metrics["calibration_bins"], ece, plots["reliability"])
    plot_accuracy_by_length(metrics["accuracy_by_length"], plots["accuracy_by_length"])
    table = pa.table(
        {
            "doc_id": pa.array(test.doc_ids, pa.string()),
            "label_id": pa.array(test.label_ids, pa.int32()),
            "label": pa.array([loaded.labels[i] for i in test.label_ids], pa.string()),
            **prediction_table(probs, loaded.labels),
        }
    ).replace_schema_metadata({"labels": json.dumps(loaded.labels)})
    write_table(table, out_dir / PREDICTIONS)
    mistakes = surest_mistakes(
        test.doc_ids,
        y.tolist(),
        probs.tolist(),
        loaded.labels,
        lambda i: loaded.tokenizer.decode(test.sequence(i)[:EXCERPT_TOKENS].tolist()),
    )
    with atomic_path(out_dir / REPORT) as tmp:
        tmp.write_text(evaluation_page(title, metrics, loaded.labels, plots, mistakes), "utf-8")
    files = {n: file_entry(out_dir / n) for n in OUTPUTS}
    summary = {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "documents": metrics["documents"],
        "documents_over_max_chunks": metrics["documents_over_max_chunks"],
    }
    manifest = StageManifest("evaluate", fingerprint, files, summary)
    manifest.write(out_dir, MANIFEST)
    log.info(
        "evaluate: test accuracy %.4f, macro-F1 %.4f on %d documents",
        metrics["accuracy"],
        metrics["macro_f1"],
        metrics["documents"],
    )
    return _result(out_dir, manifest, cached=False)


def _evaluate_multilabel(
    params: EvaluateParams,
    loaded: LoadedModel,
    test: TokenSplit,
    probs: np.ndarray,
    out_dir: Path,
    title: str,
) -> dict[str, Any]:
    """Metrics, plots, predictions and page of a model of several labels a document; the
    manifest's summary, with its `files`. Its `accuracy` is the subset accuracy."""
    assert loaded.thresholds is not None, "a multi-label model has its thresholds"
    labels, targets = loaded.labels, test.label_ids > 0
    predicted = decide(probs, np.asarray(loaded.thresholds), loaded.top_label_fallback)
    metrics = multilabel_metrics(
        targets, probs, predicted, labels, BOOTSTRAP_SEED, params.bootstrap_samples
    )
    metrics["thresholds"] = dict(zip(labels, loaded.thresholds, strict=True))
    metrics["documents_over_max_chunks"] = documents_over_max_chunks(
        loaded.model.config, test.lengths
    )
    write_json(out_dir / METRICS, metrics)
    plots = {name: out_dir / rel for name, rel in MULTILABEL_PLOTS.items()}
    plot_label_f1(metrics["per_label"], plots["label_f1"])
    plot_label_counts(targets, predicted, plots["labels_per_document"])
    plot_label_precision_recall(targets, probs, labels, plots["precision_recall"])
    ece = metrics["expected_calibration_error"]
    axes = ("a label's probability", "share that have the label", "(document, label) pairs")
    plot_reliability(metrics["calibration_bins"], ece, plots["reliability"], axes)
    table = pa.table(
        {
            "doc_id": pa.array(test.doc_ids, pa.string()),
            "labels": pa.array(label_lists(targets, labels), pa.list_(pa.string())),
            **prediction_table(probs, labels, predicted),
        }
    ).replace_schema_metadata({"labels": json.dumps(labels)})
    write_table(table, out_dir / PREDICTIONS)
    with atomic_path(out_dir / REPORT) as tmp:
        tmp.write_text(multilabel_page(title, metrics, labels, plots), "utf-8")
    log.info(
        "evaluate: test micro-F1 %.4f, macro-F1 %.4f, samples-F1 %.4f, subset accuracy %.4f "
        "on %d documents",
        metrics["micro_f1"],
        metrics["macro_f1"],
        metrics["samples_f1"],
        metrics["subset_accuracy"],
        metrics["documents"],
    )
    return {
        "accuracy": metrics["subset_accuracy"],
        "macro_f1": metrics["macro_f1"],
        "micro_f1": metrics["micro_f1"],
        "documents": metrics["documents"],
        "documents_over_max_chunks": metrics["documents_over_max_chunks"],
        "files": {n: file_entry(out_dir / n) for n in MULTILABEL_OUTPUTS},
    }


def _result(out_dir: Path, manifest: StageManifest, cached: bool) -> EvaluateResult:
    plots = MULTILABEL_PLOTS if "micro_f1" in manifest.summary else PLOTS
    return EvaluateResult(
        metrics_file=out_dir / METRICS,
        plots=[out_dir / rel for rel in plots.values()],
        predictions_file=out_dir / PREDICTIONS,
        report_file=out_dir / REPORT,
        accuracy=manifest.summary["accuracy"],
        macro_f1=manifest.summary["macro_f1"],
        cached=cached,
        micro_f1=manifest.summary.get("micro_f1"),
    )
