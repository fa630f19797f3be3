"""Tokenizer training is deterministic and keeps the special ids fixed."""

from pathlib import Path

import pytest

from doclstm.params import TokenizeParams
from doclstm.tokenizer import PAD_ID, UNK_ID, encode_ids, train_tokenizer


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_same_text_gives_byte_identical_tokenizer(kind: str, small_corpus: Path) -> None:
    # Before the fix, three in-process trainings on this slice gave three vocabularies
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
    # (BPE's decoder puts a space before punctuation; WordPiece's does not.)
    assert tokenizer.decode(ids).startswith("the minister said shares rose")
