"""Evaluation plots as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt
import numpy as np

from doclstm.atomic import atomic_path


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
    ax.set_xlabel("document length (tokens, as trained)")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy by length bucket (test)")
    return _save(fig, dest)


def _save(fig: Any, dest: Path) -> Path:
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return dest
