"""Subword tokenizers (Hugging Face `tokenizers`) trained on train text only, or the
shipped MiniLM's own word pieces (`tokenize.model: minilm`, nothing trained).

Id 0 is padding and id 1 the unknown token in every tokenizer doclstm
writes, so the model's padding index never depends on the vocabulary.
Truncation policies cut documents longer than `max_tokens`.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Encoding, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from doclstm.config.params import TokenizeParams
from doclstm.errors import DoclstmError
from doclstm.storage.fingerprint import sha256_file
from doclstm.text.minilm_files import minilm_vocabulary_file

PAD_TOKEN, UNK_TOKEN = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1
CONTINUATION, EOW = "##", "</w>"
# A tokenizer's file name in a tokens folder (data/tokens) and in a model folder.
TOKENIZER_FILE = "tokenizer.json"


def train_tokenizer(texts: Callable[[], Iterable[list[str]]], params: TokenizeParams) -> Tokenizer:
    """Train a WordPiece, BPE, Unigram or WordLevel tokenizer; `texts()` yields batches of
    train text and is called once or twice. `minilm` trains nothing: it is MiniLM's own
    vocabulary (`minilm_word_pieces`), and `texts` is not read.

    WordPiece, BPE and WordLevel are deterministic: the same text gives a
    byte-identical tokenizer.json on every run and machine (see
    `_symbol_ids_fixed_upfront` and `_canonical`, which says why Unigram is not).
    """
    if params.model == "minilm":
        return minilm_word_pieces()
    tokenizer, trainer_type, extra = _blank(params.model)
    tokenizer.normalizer = normalizers.Sequence(_normalizer_steps(params))
    helpers: list[str] = []
    if params.model in ("wordpiece", "bpe"):
        helpers = _symbol_ids_fixed_upfront(tokenizer, texts(), params.model)
    if params.model != "unigram":  # the Unigram trainer prunes by loss, not by count
        extra["min_frequency"] = params.min_frequency
    trainer = trainer_type(
        vocab_size=params.vocab_size,
        special_tokens=[PAD_TOKEN, UNK_TOKEN, *helpers],
        show_progress=False,
        **extra,
    )
    tokenizer.train_from_iterator(texts(), trainer=trainer)
    tokenizer = _canonical(tokenizer)
    if tokenizer.token_to_id(PAD_TOKEN) != PAD_ID or tokenizer.token_to_id(UNK_TOKEN) != UNK_ID:
        raise AssertionError("special tokens must hold ids 0 and 1")
    return tokenizer


def _blank(model: str) -> tuple[Tokenizer, Any, dict[str, Any]]:
    """An untrained tokenizer of `model`, its trainer class and the trainer's own options."""
    if model == "unigram":  # SentencePiece style: "▁" marks word starts, so decode is exact
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        return tokenizer, trainers.UnigramTrainer, {"unk_token": UNK_TOKEN}
    trainer: Any
    extra: dict[str, Any] = {}
    if model == "wordpiece":  # WordPieceTrainer refuses end_of_word_suffix=None
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK_TOKEN))
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer
    elif model == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN, end_of_word_suffix=EOW))
        tokenizer.decoder = decoders.BPEDecoder(suffix=EOW)
        trainer, extra = trainers.BpeTrainer, {"end_of_word_suffix": EOW}
    elif model == "wordlevel":
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
        trainer = trainers.WordLevelTrainer
    else:
        raise DoclstmError(f"tokenize.model: unknown model {model!r}")
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer, trainer, extra


def _normalizer_steps(params: TokenizeParams) -> list[normalizers.Normalizer]:
    forms = {
        "nfkc": normalizers.NFKC,
        "nfc": normalizers.NFC,
        "nfkd": normalizers.NFKD,
        "nfd": normalizers.NFD,
    }
    steps: list[normalizers.Normalizer] = []
    if params.normalization != "none":
        steps.append(forms[params.normalization]())
    if params.strip_accents:  # accents are combining marks only after a decomposition
        if params.normalization not in ("nfd", "nfkd"):
            steps.append(normalizers.NFD())
        steps.append(normalizers.StripAccents())
    if params.lowercase:
        steps.append(normalizers.Lowercase())
    return steps


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

    WordPiece and WordLevel encode by lookup in the token set, BPE by its
    merge list and Unigram by piece scores, so renumbering changes no
    encoding, only makes ids stable. Unigram alone stays inexact: its trainer
    sums EM statistics in hash-map order, so piece scores differ by up to
    1e-4 between runs on the same text (tested on BBC News), and a rare
    near-tie may segment differently. WordPiece, BPE and WordLevel are
    byte-identical from run to run.
    """
    state = json.loads(tokenizer.to_str())
    model = state["model"]
    if model["type"] == "Unigram":
        scores = {piece: score for piece, score in model["vocab"]}
        rest = sorted(set(scores) - {PAD_TOKEN, UNK_TOKEN})
        model["vocab"] = [[token, scores[token]] for token in (PAD_TOKEN, UNK_TOKEN, *rest)]
        model["unk_id"] = UNK_ID
        ids = {token: i for i, (token, _) in enumerate(model["vocab"])}
    else:
        rest = sorted(set(model["vocab"]) - {PAD_TOKEN, UNK_TOKEN})
        ids = {PAD_TOKEN: PAD_ID, UNK_TOKEN: UNK_ID} | {
            token: i for i, token in enumerate(rest, start=2)
        }
        model["vocab"] = ids
    state["added_tokens"] = _padding_and_unknown(state["added_tokens"], ids)
    return Tokenizer.from_str(json.dumps(state))


def _padding_and_unknown(added: list[dict[str, Any]], ids: dict[str, int]) -> list[dict[str, Any]]:
    """A tokenizer.json's added tokens, [PAD] and [UNK] alone, at their ids in `ids`."""
    return [{**t, "id": ids[t["content"]]} for t in added if t["content"] in (PAD_TOKEN, UNK_TOKEN)]


def minilm_word_pieces() -> Tokenizer:
    """MiniLM's uncased WordPiece tokenizer (30,522 pieces, its BERT normalizer), as a
    doclstm tokenizer: [UNK] moved to id 1 (swapped with the unused piece there), only
    [PAD] and [UNK] special, no [CLS]/[SEP] added and no padding or truncation of its own.

    A word outside the train text still has its pieces, each with a vector MiniLM gives
    it (`embedding_init: minilm`), where a vocabulary trained on a few thousand train
    documents splits it into pieces it learnt little about."""
    state = json.loads(minilm_vocabulary_file().read_text(encoding="utf-8"))
    vocab = state["model"]["vocab"]
    if vocab.get(PAD_TOKEN) != PAD_ID or UNK_TOKEN not in vocab:
        raise DoclstmError(f"{minilm_vocabulary_file()}: not the WordPiece vocabulary expected")
    at_one = next(token for token, i in vocab.items() if i == UNK_ID)
    vocab[at_one], vocab[UNK_TOKEN] = vocab[UNK_TOKEN], UNK_ID
    state["model"]["unk_token"] = UNK_TOKEN
    state["added_tokens"] = _padding_and_unknown(state["added_tokens"], vocab)
    state["post_processor"] = state["truncation"] = state["padding"] = None
    return Tokenizer.from_str(json.dumps(state))


def load_tokenizer(path: Path) -> Tokenizer:
    if not path.is_file():
        raise DoclstmError(f"{path}: tokenizer file missing; rerun the tokenize stage")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise DoclstmError(f"{path}: not a valid tokenizer.json ({exc})") from exc


def pinned_sha256(path: Path) -> str:
    """What a kept tokenizer (`tokenize.tokenizer`) counts as in fingerprints: its content."""
    if not path.is_file():
        raise DoclstmError(f"tokenize.tokenizer: no file at {path}")
    return sha256_file(path)


def fixed_vocabulary_sha256(params: TokenizeParams, pinned: Path | None) -> str | None:
    """What stands for the tokenizer's training settings in fingerprints when nothing is
    trained: a kept tokenizer's content, or the installed MiniLM vocabulary's; None for
    a trained one (its settings stand for themselves)."""
    if pinned is not None:
        return pinned_sha256(pinned)
    if params.model == "minilm":
        return sha256_file(minilm_vocabulary_file())
    return None


def load_pinned_tokenizer(path: Path) -> Tokenizer:
    """A kept tokenizer (`tokenize.tokenizer`), refused unless its padding and unknown
    tokens hold the ids every doclstm model relies on."""
    tokenizer = load_tokenizer(path)
    if tokenizer.token_to_id(PAD_TOKEN) != PAD_ID or tokenizer.token_to_id(UNK_TOKEN) != UNK_ID:
        raise DoclstmError(
            f"tokenize.tokenizer {path}: {PAD_TOKEN} must be id {PAD_ID} and {UNK_TOKEN} id "
            f"{UNK_ID}, as in every tokenizer doclstm writes; give a data/tokens/tokenizer.json"
        )
    return tokenizer


def truncate(ids: Sequence[int], max_tokens: int, policy: str) -> list[int]:
    """Cut `ids` to `max_tokens`: keep the head, the tail, or half of each; `none` keeps all."""
    if len(ids) <= max_tokens or policy == "none":
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
    return [enc.ids for enc in encode_batch(tokenizer, texts)]


def encode_batch(tokenizer: Tokenizer, texts: list[str]) -> list[Encoding]:
    """Encodings of `texts`, untruncated, without special tokens or character offsets.

    ASCII texts skip the tokenizer's Unicode normalization form (NFKC in every
    tokenizer doclstm trains), which cannot change them: a quarter of the
    encoding time on English archives, for the same ids.
    """
    twin = _ascii_twin(tokenizer)
    plain = [i for i, text in enumerate(texts) if text.isascii()] if twin else []
    if twin is None or not plain:
        return tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    if len(plain) == len(texts):
        return twin.encode_batch_fast(texts, add_special_tokens=False)
    other = sorted(set(range(len(texts))).difference(plain))
    out: list[Encoding] = [None] * len(texts)  # type: ignore[list-item]
    for rows, encoder in ((plain, twin), (other, tokenizer)):
        encoded = encoder.encode_batch_fast([texts[i] for i in rows], add_special_tokens=False)
        for i, encoding in zip(rows, encoded, strict=True):
            out[i] = encoding
    return out


# Normalization forms: the identity on ASCII text (nothing in it decomposes or composes).
_UNICODE_FORMS = frozenset({"NFC", "NFD", "NFKC", "NFKD"})
_twins: OrderedDict[int, tuple[Tokenizer, Tokenizer | None]] = OrderedDict()
_twins_lock = threading.Lock()


def _ascii_twin(tokenizer: Tokenizer) -> Tokenizer | None:
    """`tokenizer` without its Unicode normalization forms, or None if it has none. Built
    once per tokenizer object (the last few are kept, each with its original, so that an
    id is never mistaken for a later object's)."""
    with _twins_lock:
        hit = _twins.get(id(tokenizer))
        if hit is not None and hit[0] is tokenizer:
            _twins.move_to_end(id(tokenizer))
            return hit[1]
    state = json.loads(tokenizer.to_str())
    normalizer = state.get("normalizer")
    steps = [] if normalizer is None else [normalizer]
    if normalizer is not None and normalizer["type"] == "Sequence":
        steps = normalizer["normalizers"]
    kept = [step for step in steps if step["type"] not in _UNICODE_FORMS]
    twin = None
    if len(kept) < len(steps):
        state["normalizer"] = {"type": "Sequence", "normalizers": kept} if kept else None
        twin = Tokenizer.from_str(json.dumps(state))
    with _twins_lock:
        _twins[id(tokenizer)] = (tokenizer, twin)
        while len(_twins) > 8:
            _twins.popitem(last=False)
    return twin
