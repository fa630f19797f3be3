"""The token bag: its words and TF-IDF against scikit-learn's, batch independence, the
logistic-regression fit, the experts' shares, and the RNN's head-and-tail cut
(`rnn_tokens`)."""

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.config.params import TokenizeParams
from doclstm.models.bag import TokenBag, smooth_idf, tfidf, word_ngrams
from doclstm.models.config import ModelConfig
from doclstm.models.loss import ClassificationLoss
from doclstm.models.model import SequenceClassifier
from doclstm.storage.token_data import TokenSplit, offsets_of
from doclstm.text.batching import pad_batch
from doclstm.text.tokenizer import encode_ids, train_tokenizer
from doclstm.training.bag_fit import C_GRID, fit_bag, pick_rnn_share, refit_bag

VOCAB, BUCKETS = 40, 64

documents = st.lists(
    st.lists(st.integers(2, VOCAB - 1), min_size=1, max_size=30), min_size=1, max_size=6
)

# Sentences whose every word the tokenizers below learn (no [UNK] to tell apart).
WORDS = [
    "the",
    "market",
    "rallied",
    "after",
    "strong",
    "earnings",
    "while",
    "the",
    "striker",
    "scored",
    "twice",
    "and",
    "the",
    "minister's",
    "budget",
    "faced",
    "well-known",
    "critics;",
    "a",
    "film",
    "won",
    "3",
    "awards,",
    "i",
    "think",
    "it's",
    "great!",
]
TEXTS = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(5 + i % 9)) for i in range(60)]


def _tokenizer(kind: str):  # type: ignore[no-untyped-def]
    params = TokenizeParams(model=kind, vocab_size=120 if kind != "wordlevel" else 100)
    return train_tokenizer(lambda: iter([TEXTS]), params)


def _split(tokenizer, texts: list[str], labels: list[int]) -> TokenSplit:  # type: ignore[no-untyped-def]
    sequences = [np.array(ids, dtype=np.int32) for ids in encode_ids(tokenizer, texts)]
    return TokenSplit(
        [str(i) for i in range(len(texts))],
        np.array(labels, dtype=np.int64),
        np.concatenate(sequences),
        offsets_of(np.array([len(s) for s in sequences])),
    )


@settings(max_examples=60, deadline=None)
@given(docs=documents, extra_pad=st.integers(0, 5))
def test_with_every_token_a_word_the_features_are_its_words_and_word_bigrams(
    docs: list[list[int]], extra_pad: int
) -> None:
    bag = TokenBag(VOCAB, BUCKETS, 1)  # untrained tables: each token a word of 2 letters
    ids, lengths = pad_batch([np.array(d) for d in docs])
    ids = torch.cat([ids, torch.zeros(len(docs), extra_pad, dtype=torch.long)], 1)
    doc_index, bucket = word_ngrams(ids, lengths, bag.tables(), BUCKETS)
    counts = torch.bincount(doc_index, minlength=len(docs)).tolist()
    assert counts == [2 * len(d) - 1 for d in docs]  # n words, n - 1 bigrams, no pad
    assert bool(((bucket >= 0) & (bucket < BUCKETS)).all())
    # The same pair hashes to the same bucket wherever it stands.
    _, again = word_ngrams(torch.tensor([[5, 7, 5, 7]]), torch.tensor([4]), bag.tables(), 10**6)
    assert again[4] == again[6] != again[5]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram", "wordlevel", "minilm"])
def test_words_and_bigrams_are_scikit_learns_on_the_normalised_text(kind: str) -> None:
    """As many unigrams and bigrams per document as TfidfVectorizer's analyzer finds
    (its default token pattern, two or more word characters), and the same distinct
    features: the words are the tokenizer's, joined from their pieces."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    tokenizer = _tokenizer(kind)
    bag = TokenBag(tokenizer.get_vocab_size(), 2**20, 1)
    bag.set_vocabulary(tokenizer)
    # Unigram's pre-tokenizer splits at spaces only: a word with its punctuation is one.
    texts = [re.sub(r"[^\w\s]", "", t) for t in TEXTS] if kind == "unigram" else TEXTS
    analyzer = TfidfVectorizer(ngram_range=(1, 2)).build_analyzer()
    split = _split(tokenizer, texts, [0] * len(texts))
    ids, lengths = pad_batch(split.sequences)
    doc_index, bucket = word_ngrams(ids, lengths, bag.tables(), bag.buckets)
    for i, text in enumerate(texts):
        theirs = analyzer(text)
        mine = bucket[doc_index == i].tolist()
        assert len(mine) == len(theirs), text
        assert len(set(mine)) == len(set(theirs)), text


def test_tfidf_weights_are_scikit_learns_sublinear_smoothed_min_df_2() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    tokenizer = _tokenizer("wordpiece")
    bag = TokenBag(tokenizer.get_vocab_size(), 2**20, 1)
    bag.set_vocabulary(tokenizer)
    ids, lengths = pad_batch(_split(tokenizer, TEXTS, [0] * len(TEXTS)).sequences)
    doc_index, bucket = word_ngrams(ids, lengths, bag.tables(), bag.buckets)
    idf = smooth_idf(doc_index, bucket, bag.buckets)
    rows, _, weights, offsets = tfidf(doc_index, bucket, len(TEXTS), idf)
    theirs = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(TEXTS)
    assert (
        offsets.tolist() == (torch.cumsum(torch.bincount(rows), 0) - torch.bincount(rows)).tolist()
    )
    for i in range(len(TEXTS)):
        mine = np.sort(weights[rows == i].numpy())
        mine = mine[mine > 0]  # features seen in one document weigh 0, as min_df drops them
        np.testing.assert_allclose(mine, np.sort(theirs[i].data), rtol=1e-5)


def _model(kind: str = "flat", labels: int = 3, rnn_tokens: int = 0) -> SequenceClassifier:
    torch.manual_seed(0)
    extra = {"chunk_tokens": 5, "chunk_stride": 3} if kind == "hierarchical" else {}
    config = ModelConfig.build(
        vocab_size=VOCAB,
        num_labels=labels,
        embedding_dim=8,
        hidden_size=6,
        dropout=0.0,
        pooling="max",
        kind=kind,
        bag_buckets=BUCKETS,
        rnn_tokens=rnn_tokens,
        **extra,
    )
    model = SequenceClassifier(config).eval()
    assert model.bag is not None
    randomize(model.bag)
    return model


def randomize(bag: TokenBag | None) -> None:
    """Random weights and idf: a bag starts at zero, with no idf, and shows nothing."""
    assert bag is not None
    with torch.no_grad():
        torch.nn.init.normal_(bag.weights.weight)
        bag.idf.uniform_(0.5, 2.0)


@pytest.mark.parametrize("kind", ["flat", "hierarchical"])
@settings(max_examples=15, deadline=None)
@given(docs=documents, extra_pad=st.integers(0, 9), data=st.data())
def test_logits_with_a_bag_are_the_same_alone_and_in_any_padded_batch(
    kind: str, docs: list[list[int]], extra_pad: int, data: st.DataObject
) -> None:
    model = _model(kind)
    order = data.draw(st.permutations(range(len(docs))))
    arrays = [np.array(d) for d in docs]
    with torch.no_grad():
        alone = torch.cat([model(*pad_batch([a])) for a in arrays])
        ids, lengths = pad_batch([arrays[i] for i in order])
        ids = torch.cat([ids, torch.zeros(len(docs), extra_pad, dtype=torch.long)], 1)
        torch.testing.assert_close(model(ids, lengths), alone[list(order)], atol=1e-5, rtol=0)


def test_the_logits_are_the_experts_summed_with_their_shares() -> None:
    model = _model()
    ids, lengths = pad_batch([np.arange(2, 12), np.arange(5, 9)])
    with torch.no_grad():
        experts = model(ids, lengths, experts=True)
        assert experts.shape == (2, 2, 3)
        torch.testing.assert_close(experts[1], model.bag(ids, lengths))
        torch.testing.assert_close(model(ids, lengths), experts.mean(0))
        model.expert_weights.copy_(torch.tensor([0.25, 0.75]))
        torch.testing.assert_close(model(ids, lengths), 0.25 * experts[0] + 0.75 * experts[1])
    plain = SequenceClassifier(ModelConfig.build(VOCAB, 3, bag_buckets=0)).eval()
    assert plain.bag is None and plain(ids, lengths, experts=True).shape == (1, 2, 3)


def test_the_rnn_learns_from_its_own_loss_beside_a_fitted_bag() -> None:
    """A fitted (frozen) bag sure of the right answers takes none of the RNN's gradient
    (it would from one loss on the summed logits), and gets none itself."""
    from doclstm.training.objectives import ClassifierObjective

    model = _model(labels=2).train()
    ids, lengths = pad_batch([np.arange(2, 12), np.arange(5, 9), np.arange(9, 30)])
    labels = torch.tensor([0, 1, 1])
    criterion = ClassificationLoss(1, None, 0.0)
    objective = ClassifierObjective(criterion, ["a", "b"], 4096, "val_macro_f1", False)
    with torch.no_grad():
        model.bag.bias.copy_(torch.tensor([0.0]))
        model.bag.weights.weight.copy_(
            torch.where(torch.arange(BUCKETS)[:, None] % 2 == 0, -50.0, 50.0)
        )
    model.bag.requires_grad_(False)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    objective.backward(
        model, ids, lengths, labels, lambda: torch.autocast("cpu", enabled=False), scaler
    )
    with_bag = model.head.weight.grad.clone()
    model.zero_grad()
    criterion(model(ids, lengths, experts=True)[0], labels).backward()
    torch.testing.assert_close(with_bag, model.head.weight.grad)
    assert with_bag.abs().sum() > 0 and model.bag.weights.weight.grad is None


def _keyword_splits(tokenizer, seed: int, n: int):  # type: ignore[no-untyped-def]
    """Documents of the shared words; label 1 has 'striker' (or 'scored') in it."""
    rng = np.random.default_rng(seed)
    plain = [w for w in WORDS if w not in ("striker", "scored")]
    texts, labels = [], []
    for i in range(n):
        words = list(rng.choice(plain, size=rng.integers(4, 15)))
        if i % 2:
            words[rng.integers(len(words))] = rng.choice(["striker", "scored"])
        texts.append(" ".join(words))
        labels.append(i % 2)
    return _split(tokenizer, texts, labels)


def test_the_fitted_bag_is_scikit_learns_logistic_regression() -> None:
    """Same TF-IDF, same objective (C * log loss + |W|^2 / 2): the same decision function,
    at the C picked on val; the bag is then frozen, and a refit reads train + val."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    tokenizer = _tokenizer("wordpiece")
    train, val = _keyword_splits(tokenizer, 0, 80), _keyword_splits(tokenizer, 1, 40)
    bag = TokenBag(tokenizer.get_vocab_size(), 2**20, 1)
    bag.set_vocabulary(tokenizer)
    fitted = fit_bag(bag, train, val)
    assert fitted.c in C_GRID and set(fitted.val_accuracy_by_c) == {f"{c:g}" for c in C_GRID}
    assert not any(p.requires_grad for p in bag.parameters())

    texts = [tokenizer.decode(s.tolist()) for s in train.sequences]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    theirs = LogisticRegression(C=fitted.c, tol=1e-8, max_iter=10_000).fit(
        vectorizer.fit_transform(texts), train.label_ids
    )
    val_texts = [tokenizer.decode(s.tolist()) for s in val.sequences]
    with torch.no_grad():
        mine = bag(*pad_batch(val.sequences))[:, 0].numpy()
    np.testing.assert_allclose(
        mine, theirs.decision_function(vectorizer.transform(val_texts)), atol=2e-3
    )
    assert fitted.val_accuracy_by_c[f"{fitted.c:g}"] == max(fitted.val_accuracy_by_c.values())
    before = bag.weights.weight.clone()
    assert refit_bag(bag, (train, val), fitted.c) == 120
    assert not torch.equal(before, bag.weights.weight)


def test_the_rnns_share_has_the_lowest_val_log_loss_ties_to_the_nearer_even_share() -> None:
    labels = np.array([0, 1, 1, 0])
    rnn = np.array([[-2.0], [-1.0], [3.0], [-2.0]])  # wrong on the second
    bag = np.array([[-1.0], [1.0], [1.0], [-1.0]])  # right on all
    share, accuracy, log_loss, f1 = pick_rnn_share(rnn, bag, labels)
    assert accuracy["0"] == 1.0 and accuracy["1"] == 0.75
    assert f1["0"] == 1.0 and f1["1"] == round((2 / 3 + 0.8) / 2, 4)  # 1 of 2 ones found
    assert log_loss[f"{share:g}"] == min(log_loss.values()) and 0 < share < 1
    # Experts that agree exactly: every share has the same loss, the even one is kept.
    same = np.array([[-1.0], [1.0], [1.0], [-1.0]])
    assert pick_rnn_share(same, same, labels)[0] == 0.5


@settings(max_examples=60, deadline=None)
@given(docs=documents, keep=st.integers(1, 12), extra_pad=st.integers(0, 5))
def test_the_rnns_cut_is_the_tokenizers_head_tail_truncation(
    docs: list[list[int]], keep: int, extra_pad: int
) -> None:
    from doclstm.models.cuts import head_tail_cut
    from doclstm.text.tokenizer import truncate

    ids, lengths = pad_batch([np.array(d) for d in docs])
    ids = torch.cat([ids, torch.zeros(len(docs), extra_pad, dtype=torch.long)], 1)
    cut, read = head_tail_cut(ids, lengths, keep)
    for row, length, doc in zip(cut.tolist(), read.tolist(), docs, strict=True):
        assert row[:length] == truncate(doc, keep, "head_tail")
        assert all(t == 0 for t in row[length:])


@settings(max_examples=20, deadline=None)
@given(docs=documents, keep=st.integers(1, 12), data=st.data())
def test_with_rnn_tokens_the_rnn_reads_the_cut_and_the_bag_the_whole_document(
    docs: list[list[int]], keep: int, data: st.DataObject
) -> None:
    from doclstm.text.tokenizer import truncate

    model = _model(rnn_tokens=keep)
    whole_reader = _model()  # the same weights (same seed), its RNN reading everything
    whole_reader.load_state_dict(model.state_dict())
    order = data.draw(st.permutations(range(len(docs))))
    arrays = [np.array(docs[i]) for i in order]
    with torch.no_grad():
        experts = model(*pad_batch(arrays), experts=True)
        cut = [np.array(truncate(d.tolist(), keep, "head_tail")) for d in arrays]
        torch.testing.assert_close(
            experts[0], whole_reader(*pad_batch(cut), experts=True)[0], atol=1e-5, rtol=0
        )
        torch.testing.assert_close(experts[1], model.bag(*pad_batch(arrays)))
        alone = torch.cat([model(*pad_batch([a])) for a in arrays])
        torch.testing.assert_close(experts.mean(0), alone, atol=1e-5, rtol=0)


def test_batches_are_sized_by_what_the_rnn_reads() -> None:
    from doclstm.models.cuts import batch_lengths
    from doclstm.models.windowed import can_window

    lengths = np.array([3, 700, 2048])
    assert batch_lengths(lengths, 512).tolist() == [3, 512, 512]
    assert batch_lengths(lengths, 0).tolist() == [3, 700, 2048]
    cut = SequenceClassifier(
        ModelConfig.build(VOCAB, 2, bidirectional=False, rnn_tokens=8, bag_buckets=0)
    )
    assert not can_window(cut)  # its RNN never reads past the cut: nothing to window


def test_a_model_with_a_bag_scores_under_bf16_autocast() -> None:
    model = _model()
    ids, lengths = pad_batch([np.arange(2, 30), np.arange(5, 9)])
    with torch.no_grad():
        full = model(ids, lengths)
        with torch.autocast("cpu", torch.bfloat16):
            half = model(ids, lengths)
    torch.testing.assert_close(half.float(), full, atol=0.1, rtol=0.05)
