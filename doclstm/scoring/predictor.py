"""Raw text in, class probabilities out: what scoring, the gate and the MLflow pyfunc share.

Documents longer than the model's window (`max_tokens` at training) are
either truncated by the training policy, exactly as evaluate saw them, or,
with `long_documents="window"` and a unidirectional model, read whole in
windows that carry the recurrent state (doclstm/models/windowed.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from doclstm.evaluation.label_decisions import decide
from doclstm.models.inference import predict_probabilities
from doclstm.models.model_folder import LoadedModel
from doclstm.models.windowed import can_window
from doclstm.text.tokenizer import UNK_ID, encode_ids, truncate


@dataclass(frozen=True)
class Scores:
    probabilities: np.ndarray  # (documents, labels), float32
    # several labels a document: the labels each document gets (bool, documents x labels,
    # doclstm/evaluation/label_decisions.py); None for a model of one label a document
    chosen: np.ndarray | None
    tokens: np.ndarray  # each document's whole length in tokens, before any cut
    unknown: np.ndarray  # each document's unknown tokens among those the model read
    # What happened to documents over the window: windowed, truncated, or whole (a
    # model trained with truncation none reads everything at once).
    long_documents: str


@dataclass(frozen=True)
class TextPredictor:
    loaded: LoadedModel
    batch_tokens: int = 65_536
    device: str = "cpu"
    long_documents: Literal["truncate", "window"] = "truncate"
    precision: Literal["fp32", "bf16"] = "fp32"
    on_batch: Callable[[int], None] | None = None  # documents each batch scored

    @property
    def labels(self) -> list[str]:
        return self.loaded.labels

    @property
    def multi_label(self) -> bool:
        return self.loaded.multi_label

    @property
    def windows(self) -> bool:
        return self.long_documents == "window" and can_window(self.loaded.model)

    def score(self, texts: list[str]) -> Scores:
        """Probabilities in the order of `texts`, and the token counts behind them."""
        ids = encode_ids(self.loaded.tokenizer, texts)
        tokens = np.array([len(x) for x in ids], dtype=np.int64)
        window = self.loaded.max_tokens
        if not self.windows:
            ids = [truncate(x, window, self.loaded.truncation) for x in ids]
        sequences = [np.asarray(x or [UNK_ID], dtype=np.int64) for x in ids]  # never empty
        unknown = np.array([int((s == UNK_ID).sum()) for s in sequences], dtype=np.int64)
        if not texts:
            probs = np.zeros((0, len(self.labels)), dtype=np.float32)
        else:
            with torch.inference_mode():
                probs = predict_probabilities(
                    self.loaded.model,
                    sequences,
                    self.batch_tokens,
                    self.device,
                    window=window if self.windows else None,
                    precision=self.precision,
                    on_batch=self.on_batch,
                )
        chosen = None
        if self.loaded.thresholds is not None:  # several labels a document
            thresholds = np.asarray(self.loaded.thresholds)
            chosen = decide(probs, thresholds, self.loaded.top_label_fallback)
        return Scores(probs, chosen, tokens, unknown, self._long_documents())

    def _long_documents(self) -> str:
        if self.windows:
            return "windowed"
        return "whole" if self.loaded.truncation == "none" else "truncated"

    def predict(self, texts: list[str]) -> np.ndarray:
        """Probabilities (len(texts), n_labels) in the order of `texts`."""
        return self.score(texts).probabilities
