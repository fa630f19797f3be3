"""The transfer set's augmented copies of a document (Tang et al. 2019), on token ids.

A copy is made from the document's words, a word being a token that starts one
and the continuation pieces after it (as the token bag splits them:
doclstm/models/bag.py's `vocabulary_tables`):

- n-gram sampling: with `ngram_probability` the copy is a run of the document's
  words: of 1 to `max_ngram` words when the document fits in `crop_tokens`
  tokens (Tang et al.'s n-grams of a sentence), else a random crop of about
  `crop_tokens` tokens (a long document's window, what the teacher reads at once);
- masking: then each word is, with `mask_probability`, replaced by the unknown
  token (dropped, for a tokenizer without one).

Tang et al.'s third rule, swaps of words with the same part of speech, needs a
tagger the product does not ship; it is left out. Every draw comes from a
generator seeded by the run's seed, a digest of the document's id and the copy's
number: a copy is the same whichever process makes it and in whatever order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from doclstm.models.bag import vocabulary_tables


@dataclass(frozen=True)
class Augmenter:
    starts: np.ndarray  # bool per token id: a word begins at it
    unknown: int | None  # the unknown token's id, or None
    mask_probability: float
    ngram_probability: float
    max_ngram: int
    crop_tokens: int

    @classmethod
    def for_tokenizer(
        cls,
        tokenizer: Tokenizer,
        mask_probability: float,
        ngram_probability: float,
        max_ngram: int,
        crop_tokens: int,
    ) -> Augmenter:
        starts = vocabulary_tables(tokenizer)["starts"].numpy()
        if not starts.any():  # BPE without word markers: every token is a word
            starts = np.ones_like(starts)
        unknown = unknown_token(tokenizer)
        return cls(starts, unknown, mask_probability, ngram_probability, max_ngram, crop_tokens)

    def copy(self, ids: np.ndarray, seed: int, doc_id: str, number: int) -> np.ndarray:
        """Augmented copy `number` of the document `doc_id` with token ids `ids`; never
        empty (a document of one word may come back as it was)."""
        rng = np.random.default_rng([seed, _digest(doc_id), number])
        bounds = word_bounds(ids, self.starts)
        words = len(bounds) - 1
        first, last = 0, words
        if words > 1 and rng.random() < self.ngram_probability:
            if len(ids) <= self.crop_tokens:
                n = int(rng.integers(1, min(self.max_ngram, words) + 1))
                first = int(rng.integers(0, words - n + 1))
                last = first + n
            else:
                ends = bounds[1:]
                first = int(rng.integers(0, words))
                last = max(
                    first + 1,
                    int(np.searchsorted(ends, bounds[first] + self.crop_tokens, side="right")),
                )
        pieces = []
        for w in range(first, last):
            word = ids[bounds[w] : bounds[w + 1]]
            if rng.random() < self.mask_probability:
                if self.unknown is None:
                    continue
                word = np.array([self.unknown], dtype=ids.dtype)
            pieces.append(word)
        if not pieces:
            return ids[bounds[first] : bounds[first + 1]].copy()
        return np.concatenate(pieces).astype(ids.dtype)


def word_bounds(ids: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Offsets of the words in `ids` (words + 1 of them); the first token always starts one."""
    begins = np.flatnonzero(starts[ids])
    if len(begins) == 0 or begins[0] != 0:
        begins = np.concatenate(([0], begins))
    return np.concatenate((begins, [len(ids)])).astype(np.int64)


def unknown_token(tokenizer: Tokenizer) -> int | None:
    """The id of the tokenizer model's unknown token, if it has one."""
    model = json.loads(tokenizer.to_str())["model"]
    token = model.get("unk_token")
    if model.get("type") == "Unigram" and model.get("unk_id") is not None:
        return int(model["unk_id"])
    return tokenizer.token_to_id(token) if token else None


def _digest(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "little")
