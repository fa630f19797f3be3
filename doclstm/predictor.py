"""Raw text in, class probabilities out: what scoring and the MLflow pyfunc share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from doclstm.checkpoint import LoadedModel
from doclstm.inference import predict_probabilities
from doclstm.tokenizer import UNK_ID, encode_ids, truncate


@dataclass(frozen=True)
class TextPredictor:
    loaded: LoadedModel
    batch_tokens: int = 65_536
    device: str = "cpu"

    @property
    def labels(self) -> list[str]:
        return self.loaded.labels

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids as in training: same tokenizer, same truncation; never empty."""
        return [
            np.asarray(
                truncate(ids, self.loaded.max_tokens, self.loaded.truncation) or [UNK_ID],
                dtype=np.int64,
            )
            for ids in encode_ids(self.loaded.tokenizer, texts)
        ]

    def predict(self, texts: list[str]) -> np.ndarray:
        """Probabilities (len(texts), n_labels) in the order of `texts`."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            return predict_probabilities(
                self.loaded.model, self.encode(texts), self.batch_tokens, self.device
            )
