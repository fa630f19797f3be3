"""The transfer set's augmented copies: deterministic by seed, document and copy; made of
the document's own words (or the unknown token); n-grams short, crops about a window."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from doclstm.training.augment import Augmenter, unknown_token, word_bounds

TEXT = (
    "the quick brown foxes jumped over the lazy doggies while everybody watched "
    "unbelievably carefully from the riverbank as the afternoon turned into evening"
)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordPieceTrainer(vocab_size=60, special_tokens=["[PAD]", "[UNK]"])
    tok.train_from_iterator([TEXT] * 5, trainer)
    return tok


def _augmenter(tokenizer: Tokenizer, mask: float = 0.1, ngram: float = 0.25, crop: int = 128):
    return Augmenter.for_tokenizer(tokenizer, mask, ngram, 5, crop)


def _words(ids: np.ndarray, augmenter: Augmenter) -> list[tuple[int, ...]]:
    bounds = word_bounds(ids, augmenter.starts)
    return [tuple(ids[a:b].tolist()) for a, b in itertools.pairwise(bounds)]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.text("abcdef", min_size=1, max_size=8), st.integers(0, 9))
def test_a_copy_is_the_same_for_the_same_seed_document_and_number(
    tokenizer: Tokenizer, seed: int, doc_id: str, number: int
) -> None:
    augmenter = _augmenter(tokenizer, mask=0.3, ngram=0.5)
    ids = np.asarray(tokenizer.encode(TEXT).ids, dtype=np.int32)
    first = augmenter.copy(ids, seed, doc_id, number)
    again = augmenter.copy(ids.copy(), seed, doc_id, number)
    np.testing.assert_array_equal(first, again)
    assert len(first) > 0 and first.dtype == ids.dtype
    # Every word of the copy is one of the document's, or the unknown token.
    allowed = set(_words(ids, augmenter)) | {(augmenter.unknown,)}
    assert set(_words(first, augmenter)) <= allowed


def test_copies_differ_by_seed_document_and_number(tokenizer: Tokenizer) -> None:
    augmenter = _augmenter(tokenizer, mask=0.3, ngram=0.5)
    ids = np.asarray(tokenizer.encode(TEXT).ids, dtype=np.int32)
    copies = {
        tuple(augmenter.copy(ids, seed, doc, n).tolist())
        for seed in (1, 2)
        for doc in ("a", "b")
        for n in range(3)
    }
    assert len(copies) >= 8


def test_masking_rate_and_ngram_lengths_follow_the_settings(tokenizer: Tokenizer) -> None:
    ids = np.asarray(tokenizer.encode(TEXT).ids, dtype=np.int32)
    masked = _augmenter(tokenizer, mask=0.2, ngram=0.0)
    words = len(_words(ids, masked))
    unknown = sum(int((masked.copy(ids, 0, "d", n) == masked.unknown).sum()) for n in range(300))
    assert 0.15 < unknown / (300 * words) < 0.25
    grams = _augmenter(tokenizer, mask=0.0, ngram=1.0)
    lengths = [len(_words(grams.copy(ids, 0, "d", n), grams)) for n in range(200)]
    assert set(lengths) == {1, 2, 3, 4, 5}


def test_a_long_document_is_cropped_to_about_a_window(tokenizer: Tokenizer) -> None:
    ids = np.asarray(tokenizer.encode(" ".join([TEXT] * 20)).ids, dtype=np.int32)
    cropper = _augmenter(tokenizer, mask=0.0, ngram=1.0, crop=40)
    for n in range(50):
        copy = cropper.copy(ids, 3, "long", n)
        assert 1 <= len(copy) <= 40
        # a run of the document's tokens, whole words from its start to its end
        text = ids.tobytes()
        assert copy.tobytes() in text


def test_the_unknown_token_of_each_tokenizer_model(tokenizer: Tokenizer, tmp_path: Path) -> None:
    assert tokenizer.id_to_token(unknown_token(tokenizer)) == "[UNK]"
    bpe = Tokenizer(models.BPE())
    assert unknown_token(bpe) is None
