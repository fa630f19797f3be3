"""A bag of token n-grams beside the recurrent encoder: the linear expert.

With a thousand or two labelled documents of several hundred words, a linear
model over n-gram counts is hard for a recurrent model to beat (BENCHMARKS.md,
"Quality across corpora"), and the two are wrong on different documents: the
RNN reads order and negation, the bag reads every token of the document with
one weight each. Classifiers that combine them beat both (Wang & Manning 2012,
"Baselines and Bigrams"; Mesnil et al. 2014 combine an RNN with NBSVM on IMDB;
fastText's hashed bigrams, Joulin et al. 2016).

`TokenBag` maps a right-padded batch to one linear logit vector per document:
the token ids and the hashed bigrams of neighbouring ids are the features,
weighted 1/sqrt(features) so that a long document's logits are on the scale
of a short one's (the l2 normalisation of TF-IDF). Pads never count, so a
document's logits are the same alone and in any padded batch. The classifier
trains it on its own loss beside the recurrent expert's (`SequenceClassifier`
with `experts=True` gives both experts' logits), so that it cannot fit the
training set for both and starve the RNN of gradient.
"""

from __future__ import annotations

import torch
from torch import nn

# A prime well above any vocabulary: (left * _BIGRAM_PRIME + right) is unique per pair
# before the modulo.
_BIGRAM_PRIME = 1_000_003


def bag_features(
    input_ids: torch.Tensor, lengths: torch.Tensor, vocab_size: int, buckets: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features, offsets, weights) for `nn.EmbeddingBag`: every document's token ids,
    then its bigrams hashed into `buckets` rows after the vocabulary's, each weighted
    1/sqrt(the document's feature count)."""
    steps = input_ids.size(1)
    lengths = lengths.to(input_ids.device)
    position = torch.arange(steps, device=input_ids.device)[None, :]
    unigram_valid = position < lengths[:, None]
    bigram_valid = position[:, :-1] < (lengths - 1)[:, None]
    pairs = input_ids[:, :-1].long() * _BIGRAM_PRIME + input_ids[:, 1:].long()
    bigrams = vocab_size + torch.remainder(pairs, buckets)
    features = torch.cat((input_ids.long(), bigrams), 1)
    valid = torch.cat((unigram_valid, bigram_valid), 1)
    counts = valid.sum(1)
    offsets = torch.cumsum(counts, 0) - counts
    weights = torch.rsqrt(counts.clamp(min=1).float()).repeat_interleave(counts)
    return features[valid], offsets, weights


class TokenBag(nn.Module):
    """Linear logits over the bag of token unigrams and hashed bigrams."""

    def __init__(self, vocab_size: int, buckets: int, outputs: int) -> None:
        super().__init__()
        self.vocab_size, self.buckets = vocab_size, buckets
        self.weights = nn.EmbeddingBag(vocab_size + buckets, outputs, mode="sum")
        self.bias = nn.Parameter(torch.zeros(outputs))
        nn.init.zeros_(self.weights.weight)  # starts neutral: the RNN's logits alone

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        features, offsets, weights = bag_features(input_ids, lengths, self.vocab_size, self.buckets)
        return self.weights(features, offsets, per_sample_weights=weights) + self.bias
