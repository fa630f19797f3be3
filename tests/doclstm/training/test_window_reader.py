"""The teacher's window reader: a recurrence over window vectors learns what their order
says and a mean cannot, and a teacher saved with one loads to the same logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from doclstm.config.params import TeacherParams
from doclstm.models.teacher_model import (
    TeacherClassifier,
    WindowReader,
    document_windows,
    load_teacher,
    mean_by_owner,
    save_teacher,
)
from doclstm.training.teacher_fit import document_logits
from doclstm.training.window_reader import DocumentWindows, fit_reader

LABELS = ["first-up", "first-down"]
U = np.random.default_rng(99).normal(size=384).astype(np.float32)
U /= np.linalg.norm(U)  # the direction whose sign a window carries


def _ordered(documents: int, seed: int) -> tuple[np.ndarray, DocumentWindows]:
    """Documents of 2 to 6 window vectors, each +u or -u plus noise, as many of each
    sign in every document; the label is the first window's sign, which only the order
    tells."""
    rng = np.random.default_rng(seed)
    vectors, owner, labels = [], [], []
    for d in range(documents):
        half = int(rng.integers(1, 4))
        signs = np.array([1.0] * half + [-1.0] * half)
        rng.shuffle(signs)
        vectors.append(signs[:, None] * U + 0.05 * rng.normal(size=(2 * half, 384)))
        owner += [d] * (2 * half)
        labels.append(int(signs[0] < 0))
    ids = [np.zeros(1, np.int64)] * len(owner)  # the reader reads vectors, not ids
    windows = DocumentWindows(ids, np.array(owner), np.array(labels))
    return np.concatenate(vectors).astype(np.float32), windows


def test_a_reader_learns_what_the_order_of_windows_says() -> None:
    train_vectors, train = _ordered(400, seed=0)
    val_vectors, val = _ordered(200, seed=1)
    params = TeacherParams(reader_hidden=32, reader_epochs=15, reader_learning_rate=3e-3)
    _, epoch, metrics = fit_reader(
        train_vectors, train, val_vectors, val, LABELS, params, 0, torch.device("cpu")
    )
    assert metrics["val_accuracy"] > 0.95 and 1 <= epoch <= 15
    # every document's mean vector is ~0 along U: a mean of the windows cannot tell
    means = mean_by_owner(val_vectors, val.owner, len(val.label_ids))
    assert np.abs(means @ U).max() < 0.2  # a window carries +-1 along U
    again = fit_reader(
        train_vectors, train, val_vectors, val, LABELS, params, 0, torch.device("cpu")
    )
    assert again[2] == metrics  # seeded


def test_a_teacher_with_a_reader_loads_to_the_same_logits(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TeacherClassifier(3, 0.1, pretrained=False).eval()
    model.reader = WindowReader(16, 3, 0.1).eval()
    texts = ["a short one", " ".join(["a longer document of many words"] * 30), "mid " * 40]
    windows = document_windows(texts, 32, 30)
    assert windows.counts.max() > 1
    before = document_logits(model, windows.ids, windows.owner, 4096, torch.device("cpu"))
    config = {"num_outputs": 3, "dropout": 0.1, "combine": "recurrence", "reader_hidden": 16}
    save_teacher(tmp_path, model, config)
    loaded, _ = load_teacher(tmp_path, torch.device("cpu"))
    assert loaded.reader is not None
    after = document_logits(loaded, windows.ids, windows.owner, 4096, torch.device("cpu"))
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)
    # a mean of the windows' logits is another function of them
    model.reader = None
    mean = document_logits(model, windows.ids, windows.owner, 4096, torch.device("cpu"))
    assert not np.allclose(mean, before)
