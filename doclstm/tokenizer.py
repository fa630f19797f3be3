"""Subword tokenizers (Hugging Face `tokenizers`) trained on train text only.

Id 0 is padding and id 1 the unknown token in every tokenizer doclstm
trains, so the model's padding index never depends on the vocabulary.
Truncation policies cut documents longer than `max_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from doclstm.errors import DoclstmError
from doclstm.params import TokenizeParams

PAD_TOKEN, UNK_TOKEN = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1
CONTINUATION, EOW = "##", "</w>"


def train_tokenizer(texts: Callable[[], Iterable[list[str]]], params: TokenizeParams) -> Tokenizer:
    """Train a WordPiece or BPE tokenizer; `texts()` yields batches and is called twice.

    The result is deterministic: the same text gives a byte-identical
    tokenizer.json on every run and machine (see `_symbol_ids_fixed_upfront`).
    """
    tokenizer: Tokenizer
    trainer_type: type[trainers.WordPieceTrainer] | type[trainers.BpeTrainer]
    extra: dict[str, Any]  # WordPieceTrainer refuses end_of_word_suffix=None
    if params.model == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK_TOKEN))
        tokenizer.decoder = decoders.WordPiece()
        trainer_type, extra = trainers.WordPieceTrainer, {}
    else:
        tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN, end_of_word_suffix=EOW))
        tokenizer.decoder = decoders.BPEDecoder(suffix=EOW)
        trainer_type, extra = trainers.BpeTrainer, {"end_of_word_suffix": EOW}
    steps: list[normalizers.Normalizer] = [normalizers.NFKC()]
    if params.lowercase:
        steps.append(normalizers.Lowercase())
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    helpers = _symbol_ids_fixed_upfront(tokenizer, texts(), params.model)
    trainer = trainer_type(
        vocab_size=params.vocab_size,
        min_frequency=params.min_frequency,
        special_tokens=[PAD_TOKEN, UNK_TOKEN, *helpers],
        show_progress=False,
        **extra,
    )
    tokenizer.train_from_iterator(texts(), trainer=trainer)
    tokenizer = _canonical(tokenizer)
    if tokenizer.token_to_id(PAD_TOKEN) != PAD_ID or tokenizer.token_to_id(UNK_TOKEN) != UNK_ID:
        raise AssertionError("special tokens must hold ids 0 and 1")
    return tokenizer


def _symbol_ids_fixed_upfront(
    tokenizer: Tokenizer, texts: Iterable[list[str]], kind: str
) -> list[str]:
    """Every word-inner symbol ("##c", or "c</w>" for BPE), sorted, to pass as special tokens.

    The trainers sort the base alphabet, but create these symbols in hash-map
    order and break ties between equal-count merges by symbol id, so the same
    text gave a different vocabulary on each run (huggingface/tokenizers#1794).
    Registering them first, in sorted order, fixes every id the merges see.
    They stay ordinary vocabulary entries; `_canonical` drops them from the
    special (added) tokens afterwards.
    """
    assert tokenizer.normalizer is not None
    chars: set[str] = set()
    for batch in texts:
        for text in batch:
            chars.update(tokenizer.normalizer.normalize_str(text))
    chars -= {c for c in chars if c.isspace()}
    if kind == "wordpiece":
        return [f"{CONTINUATION}{c}" for c in sorted(chars)]
    return [f"{c}{EOW}" for c in sorted(chars)]


def _canonical(tokenizer: Tokenizer) -> Tokenizer:
    """Only [PAD] and [UNK] stay special; ids: specials, then tokens in sorted order.

    WordPiece encodes by greedy longest match over the token set, and BPE by
    its merge list, so renumbering changes no encoding, only makes ids stable.
    """
    state = json.loads(tokenizer.to_str())
    vocab: dict[str, int] = state["model"]["vocab"]
    rest = sorted(set(vocab) - {PAD_TOKEN, UNK_TOKEN})
    state["model"]["vocab"] = {PAD_TOKEN: PAD_ID, UNK_TOKEN: UNK_ID} | {
        token: i for i, token in enumerate(rest, start=2)
    }
    state["added_tokens"] = [
        {**t, "id": state["model"]["vocab"][t["content"]]}
        for t in state["added_tokens"]
        if t["content"] in (PAD_TOKEN, UNK_TOKEN)
    ]
    return Tokenizer.from_str(json.dumps(state))


def load_tokenizer(path: Path) -> Tokenizer:
    if not path.is_file():
        raise DoclstmError(f"{path}: tokenizer file missing; rerun the tokenize stage")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise DoclstmError(f"{path}: not a valid tokenizer.json ({exc})") from exc


def truncate(ids: Sequence[int], max_tokens: int, policy: str) -> list[int]:
    """Cut `ids` to `max_tokens`: keep the head, the tail, or half of each."""
    if len(ids) <= max_tokens:
        return list(ids)
    if policy == "head":
        return list(ids[:max_tokens])
    if policy == "tail":
        return list(ids[-max_tokens:])
    if policy == "head_tail":
        head = (max_tokens + 1) // 2
        return list(ids[:head]) + list(ids[len(ids) - (max_tokens - head) :])
    raise DoclstmError(f"tokenize.truncation: unknown policy {policy!r}")


def encode_ids(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, untruncated (batched and parallel in Rust)."""
    return [enc.ids for enc in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
