"""A bag of word n-grams beside the recurrent encoder: the linear expert.

With a thousand or two labelled documents of several hundred words, a linear
model over n-gram counts is hard for a recurrent model to beat (BENCHMARKS.md,
"Quality across corpora"), and the two are wrong on different documents: the
RNN reads order and negation, the bag reads every word of the document with
one weight each. Classifiers that combine them beat both (Wang & Manning 2012,
"Baselines and Bigrams"; Mesnil et al. 2014 combine an RNN with NBSVM on IMDB;
fastText's hashed bigrams, Joulin et al. 2016).

`TokenBag` maps a right-padded batch of token ids to one linear logit vector
per document, computed as TF-IDF + logistic regression computes it:

- The features are the document's words and word bigrams, hashed into
  `buckets` rows. A word is what the tokenizer's pre-tokenizer split off (a
  token and the continuation pieces after it: "##" in WordPiece, no "</w>"
  yet in BPE, no "▁" in Unigram); words of fewer than two characters or with
  a character that is not a letter, digit or underscore are left out, and
  bigrams join the words that remain (scikit-learn's default `\\b\\w\\w+\\b`
  token pattern, on the tokenizer's normalised text). Which token starts,
  ends and spells a word are tables over the vocabulary (`set_vocabulary`),
  saved with the model, so scoring needs no tokenizer.
- Each feature weighs (1 + log count) * idf, and each document's weights are
  scaled to unit l2 norm (sublinear TF-IDF); the idf is smoothed and zero
  for a feature seen in fewer than two training documents.

Pads never count, so a document's logits are the same alone and in any
padded batch. doclstm/training/bag_fit.py fits it to convergence as an L2-regularised
logistic regression before the RNN trains; it is frozen while the RNN does.
"""

from __future__ import annotations

import json
import re

import torch
from tokenizers import Tokenizer
from torch import nn

# Polynomial hashing modulo a Mersenne prime: every product stays below 2**62.
_MODULUS = 2**31 - 1
_PRIME = 1_000_003
_BIGRAM_PRIME = 999_983
_MAX_WORD_TOKENS = 64  # tokens of a word past this many hash as the 64th
# _PRIME ** k modulo _MODULUS, the weight of a word's k-th token in its hash.
_POWERS = torch.tensor([pow(_PRIME, k, _MODULUS) for k in range(_MAX_WORD_TOKENS)])
_WORD_CHAR = re.compile(r"\w*")


def vocabulary_tables(tokenizer: Tokenizer) -> dict[str, torch.Tensor]:
    """Per token id: `starts` (a word begins at it), `ends` (a word ends with it), `chars`
    (its characters without the word markers) and `wordy` (all of them \\w)."""
    model = json.loads(tokenizer.to_str())["model"]
    kind = model["type"]
    prefix = (model.get("continuing_subword_prefix") or "##") if kind == "WordPiece" else ""
    suffix = (model.get("end_of_word_suffix") or "") if kind == "BPE" else ""
    size = tokenizer.get_vocab_size()
    starts = torch.zeros(size, dtype=torch.bool)
    ends = torch.zeros(size, dtype=torch.bool)
    chars = torch.zeros(size, dtype=torch.int32)
    wordy = torch.zeros(size, dtype=torch.bool)
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values()}
    for token, i in tokenizer.get_vocab().items():
        text = token
        if token in special:
            starts[i], ends[i] = True, True  # a word of its own, left out (not \w)
            text = "\0"
        elif kind == "WordPiece":
            starts[i] = not token.startswith(prefix)
            text = token.removeprefix(prefix)
        elif kind == "BPE":
            ends[i] = bool(suffix) and token.endswith(suffix)
            text = token.removesuffix(suffix) if suffix else token
        elif kind == "Unigram":
            starts[i] = token.startswith("▁")
            text = token.removeprefix("▁")
        else:  # WordLevel: every token is a word
            starts[i] = True
        chars[i] = len(text)
        wordy[i] = _WORD_CHAR.fullmatch(text) is not None
    return {"starts": starts, "ends": ends, "chars": chars, "wordy": wordy}


def word_ngrams(
    input_ids: torch.Tensor, lengths: torch.Tensor, tables: dict[str, torch.Tensor], buckets: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(document index, bucket) of every kept word and word bigram in the batch, in
    document order."""
    device = input_ids.device
    steps = input_ids.size(1)
    valid = torch.arange(steps, device=device)[None, :] < lengths.to(device)[:, None]
    ids = input_ids.long()
    after_end = torch.zeros_like(valid)
    after_end[:, 1:] = tables["ends"][ids[:, :-1]]
    begins = (tables["starts"][ids] | after_end)[valid]
    begins[torch.cumsum(valid.sum(1), 0)[:-1]] = True  # every document's first token
    if len(begins):
        begins[0] = True
    flat = ids[valid]
    docs = torch.arange(len(ids), device=device)[:, None].expand_as(ids)[valid]
    word = torch.cumsum(begins.long(), 0) - 1
    first = torch.nonzero(begins).squeeze(1)
    place = (torch.arange(len(flat), device=device) - first[word]).clamp(max=_MAX_WORD_TOKENS - 1)
    words = len(first)
    hashes = torch.zeros(words, dtype=torch.long, device=device)
    hashes.index_add_(0, word, flat * _POWERS.to(device)[place] % _MODULUS)
    chars = torch.zeros(words, dtype=torch.long, device=device)
    chars.index_add_(0, word, tables["chars"][flat].long())
    odd = torch.zeros(words, dtype=torch.long, device=device)
    odd.index_add_(0, word, (~tables["wordy"][flat]).long())
    kept = (chars >= 2) & (odd == 0)
    hashes, word_docs = hashes[kept] % _MODULUS, docs[first][kept]
    neighbours = word_docs[:-1] == word_docs[1:]
    bigrams = (hashes[:-1] * _BIGRAM_PRIME + hashes[1:] + 1) % _MODULUS
    doc_index = torch.cat((word_docs, word_docs[:-1][neighbours]))
    bucket = torch.cat((hashes, bigrams[neighbours])) % buckets
    order = torch.argsort(doc_index, stable=True)
    return doc_index[order], bucket[order]


def tfidf(
    doc_index: torch.Tensor, bucket: torch.Tensor, documents: int, idf: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row, bucket, weight, offsets): each document's distinct buckets in order, weighted
    (1 + log count) * idf and scaled to unit l2 norm; `offsets` index its first one."""
    buckets = len(idf)
    keys, counts = torch.unique(doc_index * buckets + bucket, return_counts=True)
    rows, columns = keys // buckets, keys % buckets
    weights = (1 + torch.log(counts.float())) * idf[columns]
    norms = torch.zeros(documents, device=idf.device).index_add_(0, rows, weights * weights)
    weights = weights / norms.sqrt().clamp(min=1e-12)[rows]
    per_doc = torch.bincount(rows, minlength=documents)
    return rows, columns, weights, torch.cumsum(per_doc, 0) - per_doc


def smooth_idf(doc_index: torch.Tensor, bucket: torch.Tensor, buckets: int) -> torch.Tensor:
    """ln((1 + n) / (1 + df)) + 1 per bucket over the documents given, 0 where df < 2."""
    documents = int(doc_index.max()) + 1 if len(doc_index) else 0
    present = torch.unique(doc_index * buckets + bucket) % buckets
    df = torch.bincount(present, minlength=buckets).float()
    idf = torch.log((1 + documents) / (1 + df)) + 1
    return torch.where(df >= 2, idf, torch.zeros_like(idf))


class TokenBag(nn.Module):
    """Linear logits over the TF-IDF of a document's hashed word unigrams and bigrams."""

    idf: torch.Tensor
    starts: torch.Tensor
    ends: torch.Tensor
    chars: torch.Tensor
    wordy: torch.Tensor

    def __init__(self, vocab_size: int, buckets: int, outputs: int) -> None:
        super().__init__()
        self.buckets = buckets
        self.weights = nn.EmbeddingBag(buckets, outputs, mode="sum")
        self.bias = nn.Parameter(torch.zeros(outputs))
        nn.init.zeros_(self.weights.weight)  # neutral until fitted (doclstm/training/bag_fit.py)
        self.register_buffer("idf", torch.zeros(buckets))
        self.register_buffer("starts", torch.ones(vocab_size, dtype=torch.bool))
        self.register_buffer("ends", torch.zeros(vocab_size, dtype=torch.bool))
        self.register_buffer("chars", torch.full((vocab_size,), 2, dtype=torch.int32))
        self.register_buffer("wordy", torch.ones(vocab_size, dtype=torch.bool))

    def set_vocabulary(self, tokenizer: Tokenizer) -> None:
        """Read words the way `tokenizer` splits them (until then every token is a word)."""
        for name, table in vocabulary_tables(tokenizer).items():
            buffer = getattr(self, name)
            if len(table) != len(buffer):
                raise ValueError(f"tokenizer has {len(table)} tokens, the bag {len(buffer)}")
            buffer.copy_(table)

    def tables(self) -> dict[str, torch.Tensor]:
        return {"starts": self.starts, "ends": self.ends, "chars": self.chars, "wordy": self.wordy}

    def features(
        self, input_ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch's TF-IDF rows (see `tfidf`)."""
        doc_index, bucket = word_ngrams(input_ids, lengths, self.tables(), self.buckets)
        return tfidf(doc_index, bucket, len(input_ids), self.idf)

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, columns, weights, offsets = self.features(input_ids, lengths)
        return self.weights(columns, offsets, per_sample_weights=weights) + self.bias
