"""The token bag (its features, batch independence, each expert on its own loss) and the
RNN's head-and-tail cut (`rnn_tokens`)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.bag import TokenBag, bag_features
from doclstm.batching import pad_batch
from doclstm.model import ClassificationLoss, ModelConfig, SequenceClassifier

VOCAB, BUCKETS = 40, 64

documents = st.lists(
    st.lists(st.integers(2, VOCAB - 1), min_size=1, max_size=30), min_size=1, max_size=6
)


@settings(max_examples=60, deadline=None)
@given(docs=documents, extra_pad=st.integers(0, 5))
def test_features_are_each_documents_tokens_and_bigrams_weighted_by_count(
    docs: list[list[int]], extra_pad: int
) -> None:
    ids, lengths = pad_batch([np.array(d) for d in docs])
    ids = torch.cat([ids, torch.zeros(len(docs), extra_pad, dtype=torch.long)], 1)
    features, offsets, weights = bag_features(ids, lengths, VOCAB, BUCKETS)
    ends = [*offsets.tolist()[1:], len(features)]
    for doc, start, end in zip(docs, offsets.tolist(), ends, strict=True):
        mine = features[start:end].tolist()
        assert len(mine) == 2 * len(doc) - 1  # n tokens, n - 1 bigrams, no pad
        assert mine[: len(doc)] == doc
        assert all(VOCAB <= f < VOCAB + BUCKETS for f in mine[len(doc) :])
        torch.testing.assert_close(
            weights[start:end], torch.full((end - start,), (end - start) ** -0.5)
        )
    # The same pair hashes to the same bucket wherever it stands.
    again, _, _ = bag_features(torch.tensor([[5, 7, 5, 7]]), torch.tensor([4]), VOCAB, BUCKETS)
    assert again[4] == again[6] != again[5]


def _model(kind: str = "flat", labels: int = 3, rnn_tokens: int = 0) -> SequenceClassifier:
    torch.manual_seed(0)
    extra = {"chunk_tokens": 5, "chunk_stride": 3} if kind == "hierarchical" else {}
    config = ModelConfig(
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
    torch.nn.init.normal_(model.bag.weights.weight)  # it starts at zero: nothing to test
    return model


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


def test_the_logits_are_the_mean_of_the_experts() -> None:
    model = _model()
    ids, lengths = pad_batch([np.arange(2, 12), np.arange(5, 9)])
    with torch.no_grad():
        experts = model(ids, lengths, experts=True)
        assert experts.shape == (2, 2, 3)
        torch.testing.assert_close(experts[1], model.bag(ids, lengths))
        torch.testing.assert_close(model(ids, lengths), experts.mean(0))
    plain = SequenceClassifier(ModelConfig(vocab_size=VOCAB, num_labels=3)).eval()
    assert plain.bag is None and plain(ids, lengths, experts=True).shape == (1, 2, 3)


def test_each_expert_learns_from_its_own_loss() -> None:
    """The RNN's gradient is that of its own loss, whatever the bag predicts: a bag that
    fits the training set cannot take the RNN's gradient away (it would from one loss
    on the summed logits)."""
    from doclstm.objectives import ClassifierObjective

    model = _model(labels=2).train()
    ids, lengths = pad_batch([np.arange(2, 12), np.arange(5, 9), np.arange(9, 30)])
    labels = torch.tensor([0, 1, 1])
    criterion = ClassificationLoss(1, None, 0.0)
    objective = ClassifierObjective(criterion, ["a", "b"], 4096, "val_macro_f1", False)
    with torch.no_grad():  # a bag sure of the right answers
        model.bag.bias.zero_()
        model.bag.weights.weight.zero_()
        model.bag.weights.weight[2:12] = -50.0
        model.bag.weights.weight[12:30] = 50.0
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    objective.backward(
        model, ids, lengths, labels, lambda: torch.autocast("cpu", enabled=False), scaler
    )
    both = model.head.weight.grad.clone()
    model.zero_grad()
    (criterion(model(ids, lengths, experts=True)[0], labels) / 2).backward()
    torch.testing.assert_close(both, model.head.weight.grad)
    assert both.abs().sum() > 0


def test_a_bag_alone_learns_a_keyword_task() -> None:
    """Token 3 means label 1: the bag alone fits it in a few hundred Adam steps."""
    torch.manual_seed(0)
    bag = TokenBag(VOCAB, BUCKETS, 1)
    rng = np.random.default_rng(0)
    docs = [rng.integers(4, VOCAB, size=rng.integers(3, 20)) for _ in range(64)]
    labels = torch.tensor([float(i % 2) for i in range(64)])
    for doc, label in zip(docs, labels, strict=True):
        if label:
            doc[rng.integers(len(doc))] = 3
    ids, lengths = pad_batch(docs)
    optimizer = torch.optim.Adam(bag.parameters(), lr=0.05)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(200):
        optimizer.zero_grad()
        loss_fn(bag(ids, lengths).squeeze(1), labels).backward()
        optimizer.step()
    accuracy = ((bag(ids, lengths).squeeze(1) > 0).float() == labels).float().mean()
    assert accuracy == 1.0


@settings(max_examples=60, deadline=None)
@given(docs=documents, keep=st.integers(1, 12), extra_pad=st.integers(0, 5))
def test_the_rnns_cut_is_the_tokenizers_head_tail_truncation(
    docs: list[list[int]], keep: int, extra_pad: int
) -> None:
    from doclstm.model import head_tail_cut
    from doclstm.tokenizer import truncate

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
    from doclstm.tokenizer import truncate

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
    from doclstm.model import batch_lengths
    from doclstm.windowed import can_window

    lengths = np.array([3, 700, 2048])
    assert batch_lengths(lengths, 512).tolist() == [3, 512, 512]
    assert batch_lengths(lengths, 0).tolist() == [3, 700, 2048]
    cut = SequenceClassifier(
        ModelConfig(vocab_size=VOCAB, num_labels=2, bidirectional=False, rnn_tokens=8)
    )
    assert not can_window(cut)  # its RNN never reads past the cut: nothing to window


def test_a_model_with_a_bag_trains_and_scores_under_bf16_autocast() -> None:
    model = _model()
    ids, lengths = pad_batch([np.arange(2, 30), np.arange(5, 9)])
    with torch.no_grad():
        full = model(ids, lengths)
        with torch.autocast("cpu", torch.bfloat16):
            half = model(ids, lengths)
    torch.testing.assert_close(half.float(), full, atol=0.1, rtol=0.05)
    model.train()
    with torch.autocast("cpu", torch.bfloat16):
        experts = model(ids, lengths, experts=True)
    experts.float().sum().backward()
    assert model.bag.weights.weight.grad.abs().sum() > 0
