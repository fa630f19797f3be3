"""Evaluation plots as PNG files (matplotlib, no display needed).

scikit-learn is imported by the two plots that need its curves, so a score run, which
draws only its drift plot, does not pay for importing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt
import numpy as np

from doclstm.storage.atomic import atomic_path


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], dest: Path) -> Path:
    counts = np.asarray(matrix)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = 1.2 + 0.8 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            color = "white" if rates[i, j] > 0.5 else "black"
            ax.text(j, i, f"{counts[i, j]}", ha="center", va="center", color=color)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    ax.set_title("Confusion matrix (test)")
    return _save(fig, dest)


def plot_accuracy_by_length(rows: list[dict[str, Any]], dest: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = [f"{r['min_tokens']}-{r['max_tokens']}" for r in rows]
    ax.bar(names, [r["accuracy"] for r in rows], color="tab:blue")
    for i, r in enumerate(rows):
        ax.text(i, r["accuracy"], f"n={r['documents']}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("document length (tokens, before tokenize.max_tokens cut)")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy by length bucket (test)")
    return _save(fig, dest)


def plot_drift(report: dict[str, Any], title: str, dest: Path) -> Path:
    """A score run's drift report: lengths and predicted labels beside the training data's,
    and the confidence of the predictions with the unsure threshold."""
    scored, training = report["scored"], report["training"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    # "lo-hi" buckets by their lower edge (JSON read back may hold them in another order)
    buckets = sorted(scored["length_shares"], key=lambda b: int(b.split("-")[0].rstrip("+")))
    x = np.arange(len(buckets))
    if training is not None:
        trained = scored["training_length_shares"]
        axes[0].bar(x - 0.2, [trained.get(b, 0) for b in buckets], 0.4, label="training")
    axes[0].bar(x + 0.2, [scored["length_shares"][b] for b in buckets], 0.4, label="scored")
    axes[0].set_xticks(x, buckets, rotation=45, ha="right", fontsize=7)
    axes[0].set_title(f"tokens read (PSI {scored.get('length_psi', float('nan')):.3f})")
    labels = list(scored["label_shares"])
    y = np.arange(len(labels))
    if training is not None:
        shares = [training["label_shares"].get(name, 0) for name in labels]
        axes[1].bar(y - 0.2, shares, 0.4, label="training labels")
    axes[1].bar(y + 0.2, [scored["label_shares"][n] for n in labels], 0.4, label="predicted")
    axes[1].set_xticks(y, labels, rotation=45, ha="right", fontsize=8)
    axes[1].set_title(f"labels (PSI {scored.get('label_psi', float('nan')):.3f})")
    # drawn in 0.05-wide bars (the report keeps 0.01): a fifth of the artists to render
    confidence = np.asarray(scored["confidence_histogram"], dtype=float).reshape(20, -1).sum(1)
    edges = np.linspace(0, 1, len(confidence) + 1)
    axes[2].bar(edges[:-1], confidence / max(confidence.sum(), 1), width=edges[1], align="edge")
    threshold = report["thresholds"]["confidence"]
    axes[2].axvline(threshold, color="tab:red", linestyle="--", label=f"unsure < {threshold}")
    axes[2].set_title(f"top probability ({scored['unsure_share']:.1%} unsure)")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.set_ylabel("share of documents")
    verdict = "DRIFTED: " + "; ".join(report["alerts"]) if report["drifted"] else "no drift"
    fig.suptitle(f"{title}: {verdict}", fontsize=9)
    return _save(fig, dest)


def _save(fig: Any, dest: Path) -> Path:
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return dest


def plot_roc(label_ids: np.ndarray, probs: np.ndarray, labels: list[str], dest: Path) -> Path:
    """ROC curve: the positive class for a binary task, one-vs-rest per class otherwise."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for i, name, positive in _curve_classes(label_ids, labels):
        fpr, tpr, _ = roc_curve(positive, probs[:, i])
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(positive, probs[:, i]):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    _unit_axes(ax, "false positive rate", "true positive rate", "ROC (test)", "lower right")
    return _save(fig, dest)


def plot_precision_recall(
    label_ids: np.ndarray, probs: np.ndarray, labels: list[str], dest: Path
) -> Path:
    """Precision-recall curve, per class as for the ROC plot."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for i, name, positive in _curve_classes(label_ids, labels):
        precision, recall, _ = precision_recall_curve(positive, probs[:, i])
        ap = average_precision_score(positive, probs[:, i])
        ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
    _unit_axes(ax, "recall", "precision", "Precision-recall (test)", "lower left")
    return _save(fig, dest)


def plot_reliability(
    bins: list[dict[str, Any]],
    ece: float,
    dest: Path,
    axes: tuple[str, str, str] = ("confidence (top-class probability)", "accuracy", "documents"),
) -> Path:
    """Reliability diagram: accuracy against mean confidence per confidence bin (`axes`:
    what the x and y axes and the counts are)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
    ax.plot(
        [b["confidence"] for b in bins],
        [b["accuracy"] for b in bins],
        marker="o",
        label=f"model (ECE {ece:.3f})",
    )
    for b in bins:
        ax.annotate(
            str(b["documents"]),
            (b["confidence"], b["accuracy"]),
            fontsize=7,
            xytext=(3, -9),
            textcoords="offset points",
        )
    title = f"Reliability (test; numbers: {axes[2]} per bin)"
    _unit_axes(ax, axes[0], axes[1], title, "upper left")
    return _save(fig, dest)


def plot_label_f1(per_label: dict[str, dict[str, Any]], dest: Path) -> Path:
    """Several labels a document: each label's test F1, labels by support (most first)."""
    order = sorted(per_label, key=lambda name: -per_label[name]["support"])
    fig, ax = plt.subplots(figsize=(6.5, max(3.0, 0.28 * len(order) + 1)))
    ax.barh(range(len(order)), [per_label[n]["f1"] for n in order], color="#4c72b0")
    ax.set_yticks(range(len(order)), [f"{n} ({per_label[n]['support']})" for n in order])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 (test; support in brackets)")
    ax.set_title("F1 by label")
    return _save(fig, dest)


def plot_label_counts(targets: np.ndarray, predicted: np.ndarray, dest: Path) -> Path:
    """Several labels a document: how many labels the test documents have and get."""
    given, got = targets.sum(1), predicted.sum(1)
    edges = np.arange(max(int(given.max(initial=0)), int(got.max(initial=0))) + 2) - 0.5
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.hist([given, got], bins=edges.tolist(), label=["given", "predicted"])
    ax.set_xlabel("labels a document")
    ax.set_ylabel("test documents")
    ax.set_title("Labels per document (test)")
    ax.legend(fontsize=8)
    return _save(fig, dest)


def plot_label_precision_recall(
    targets: np.ndarray, probs: np.ndarray, labels: list[str], dest: Path, most: int = 8
) -> Path:
    """Several labels a document: the precision-recall curve of the `most` frequent
    labels of the test split."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for j in np.argsort(-targets.sum(0), kind="stable")[:most]:
        positive = targets[:, j]
        if not positive.any() or positive.all():
            continue
        precision, recall, _ = precision_recall_curve(positive, probs[:, j])
        ap = average_precision_score(positive, probs[:, j])
        ax.plot(recall, precision, label=f"{labels[j]} (AP {ap:.3f})")
    _unit_axes(ax, "recall", "precision", "Precision-recall, frequent labels (test)", "lower left")
    return _save(fig, dest)


def _unit_axes(ax: Any, xlabel: str, ylabel: str, title: str, legend: str) -> None:
    """Both axes on [0, 1] (a little headroom above), labels, title, legend."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc=legend, fontsize=8)


def _curve_classes(label_ids: np.ndarray, labels: list[str]) -> list[tuple[int, str, np.ndarray]]:
    """(class index, name, is-positive mask) for each class that has a defined curve."""
    chosen = [1] if len(labels) == 2 else range(len(labels))
    out = []
    for i in chosen:
        positive = label_ids == i
        if positive.any() and not positive.all():
            out.append((i, labels[i], positive))
    return out
