"""Tokenizer training is deterministic and keeps the special ids fixed."""

from pathlib import Path

import pytest

from doclstm.params import TokenizeParams
from doclstm.tokenizer import PAD_ID, UNK_ID, encode_ids, train_tokenizer


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
    # Not byte-identical from run to run (see doclstm.tokenizer._canonical); its ids are.
    texts = [p.read_text(encoding="utf-8") for p in sorted(small_corpus.glob("*/*.txt"))[:200]]
    tokenizer = train_tokenizer(
        lambda: iter([texts]), TokenizeParams(model="unigram", vocab_size=1500)
    )
    assert (tokenizer.token_to_id("[PAD]"), tokenizer.token_to_id("[UNK]")) == (PAD_ID, UNK_ID)
    ids = encode_ids(tokenizer, ["The minister said shares rose."])[0]
    assert UNK_ID not in ids
    assert tokenizer.decode(ids) == "the minister said shares rose."
