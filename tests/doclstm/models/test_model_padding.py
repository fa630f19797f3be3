"""A document's logits do not depend on the batch it is scored in, nor on padding."""

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.models.config import ModelConfig
from doclstm.models.model import SequenceClassifier
from doclstm.text.batching import pad_batch
from tests.devices import DEVICES

CONFIGS = [
    (cell, bidirectional, pooling, layers)
    for cell in ("lstm", "gru")
    for bidirectional in (True, False)
    for pooling in ("last", "mean", "max", "attention", "concat")
    for layers in (1, 2)
]


def _model(
    cell: str, bidirectional: bool, pooling: str, layers: int, labels: int = 3, **extra: Any
):
    torch.manual_seed(0)
    config = ModelConfig.build(
        vocab_size=40,
        num_labels=labels,
        cell=cell,
        embedding_dim=8,
        hidden_size=6,
        num_layers=layers,
        bidirectional=bidirectional,
        pooling=pooling,
        dropout=0.0,
        **{"bag_buckets": 0, **extra},  # the recurrent paths alone unless a test adds a bag
    )
    return SequenceClassifier(config).eval()


batches = st.lists(st.integers(1, 30), min_size=1, max_size=7).flatmap(
    lambda lengths: st.tuples(
        st.just(lengths),
        st.integers(0, 2**31 - 1),  # token seed
        st.integers(0, 9),  # extra padding columns
        st.permutations(range(len(lengths))),
    )
)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("cell", "bidirectional", "pooling", "layers"), CONFIGS)
@settings(max_examples=10, deadline=None)
@given(case=batches)
def test_logits_same_alone_and_in_any_padded_batch(
    cell: str, bidirectional: bool, pooling: str, layers: int, device: str, case: tuple
) -> None:
    lengths, seed, extra_pad, order = case
    torch.backends.cudnn.allow_tf32 = False  # float32 means float32 on the GPU too
    model = _model(cell, bidirectional, pooling, layers).to(device)
    rng = np.random.default_rng(seed)
    docs = [rng.integers(2, 40, size=n) for n in lengths]

    def run(ids: torch.Tensor, lens: torch.Tensor, path: str) -> torch.Tensor:
        return model(ids.to(device), lens, path=path).cpu()

    with torch.no_grad():
        alone = {
            path: torch.cat([run(*pad_batch([d]), path=path) for d in docs])
            for path in ("packed", "padded")
        }
        shuffled = [docs[i] for i in order]
        ids, lens = pad_batch(shuffled)
        ids = torch.cat([ids, torch.zeros(len(docs), extra_pad, dtype=torch.long)], 1)
        for path in ("packed", "padded"):
            batched = run(ids, lens, path)
            expected = alone["packed"][list(order)]
            torch.testing.assert_close(batched, expected, atol=1e-5, rtol=0)
            torch.testing.assert_close(alone[path], alone["packed"], atol=1e-5, rtol=0)


def test_reading_output_at_last_padded_step_is_wrong() -> None:
    """The tutorial bug: output[:, -1] of a padded batch is not the sequence summary."""
    model = _model("lstm", True, "last", 1)
    hidden = model.config.hidden_size
    docs = [np.arange(2, 22), np.arange(2, 7)]  # lengths 20 and 5
    ids, lens = pad_batch(docs)
    with torch.no_grad():
        tutorial = model.rnn(model.embedding(ids))[0][:, -1]  # padded run, last column
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            model.embedding(ids), lens, batch_first=True, enforce_sorted=False
        )
        h_n = model.rnn(packed)[1][0]
        correct = torch.cat((h_n[-2], h_n[-1]), 1)
    # Unpadded document: the forward half agrees, but the backward half of
    # output[:, -1] has read one token instead of the whole document.
    torch.testing.assert_close(tutorial[0, :hidden], correct[0, :hidden])
    assert not torch.allclose(tutorial[0, hidden:], correct[0, hidden:], atol=1e-3)
    # Padded document: the forward half also ran through 15 pads.
    assert not torch.allclose(tutorial[1, :hidden], correct[1, :hidden], atol=1e-3)
    # And the model's own summary is the correct one, in either path.
    with torch.no_grad():
        for path in ("packed", "padded"):
            torch.testing.assert_close(
                model(ids, lens, path=path), model.head(correct), atol=1e-5, rtol=0
            )


def test_binary_task_has_one_logit_and_two_probabilities() -> None:
    from doclstm.models.loss import probabilities

    model = _model("lstm", True, "last", 1, labels=2)
    logits = model(*pad_batch([np.arange(2, 9)]))
    assert logits.shape == (1, 1)
    probs = probabilities(logits)
    assert probs.shape == (1, 2)
    torch.testing.assert_close(probs.sum(1), torch.ones(1))


HIERARCHICAL = [
    (cell, bidirectional, pooling, max_chunks)
    for cell in ("lstm", "gru")
    for bidirectional in (True, False)
    for pooling in ("last", "max", "concat")
    for max_chunks in (0, 3)
]


def _hierarchical(cell: str, bidirectional: bool, pooling: str, max_chunks: int):
    return _model(
        cell,
        bidirectional,
        pooling,
        1,
        labels=2,
        kind="hierarchical",
        chunk_tokens=5,
        chunk_stride=3,
        max_chunks=max_chunks,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("cell", "bidirectional", "pooling", "max_chunks"), HIERARCHICAL)
@settings(max_examples=10, deadline=None)
@given(case=batches)
def test_hierarchical_logits_same_alone_and_in_any_padded_batch(
    cell: str, bidirectional: bool, pooling: str, max_chunks: int, device: str, case: tuple
) -> None:
    """Windows of different counts per document, packed twice: still batch-independent."""
    lengths, seed, extra_pad, order = case
    torch.backends.cudnn.allow_tf32 = False
    model = _hierarchical(cell, bidirectional, pooling, max_chunks).to(device)
    rng = np.random.default_rng(seed)
    docs = [rng.integers(2, 40, size=n) for n in lengths]
    with torch.no_grad():
        for path in ("packed", "padded"):
            alone = torch.cat([model(*_on(pad_batch([d]), device), path=path).cpu() for d in docs])
            ids, lens = pad_batch([docs[i] for i in order])
            ids = torch.cat([ids, torch.zeros(len(docs), extra_pad, dtype=torch.long)], 1)
            batched = model(*_on((ids, lens), device), path=path).cpu()
            torch.testing.assert_close(batched, alone[list(order)], atol=1e-5, rtol=0)


def _on(batch: tuple[torch.Tensor, torch.Tensor], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    return batch[0].to(device), batch[1]


def test_windows_cover_every_token_and_stop_at_max_chunks() -> None:
    from doclstm.models.cuts import chunk_windows, window_counts

    lengths = torch.tensor([1, 5, 6, 8, 9, 14])
    assert window_counts(lengths, 5, 3).tolist() == [1, 1, 2, 2, 3, 4]
    assert window_counts(lengths, 5, 3, max_chunks=2).tolist() == [1, 1, 2, 2, 2, 2]
    docs = [np.arange(2, 2 + n) for n in lengths.tolist()]
    ids, lens = pad_batch(docs)
    windows, window_lengths, counts = chunk_windows(ids, lens, 5, 3)
    rows = iter(zip(windows.tolist(), window_lengths.tolist(), strict=True))
    for doc, count in zip(docs, counts.tolist(), strict=True):
        covered: list[int] = []
        for k in range(count):
            window, length = next(rows)
            assert window[:length] == doc[3 * k : 3 * k + 5].tolist()
            assert all(t == 0 for t in window[length:])  # pads only after the real tokens
            covered.extend(window[:length])
        assert set(covered) == set(doc.tolist())  # no token skipped


def test_hierarchical_differs_from_reading_only_the_first_window() -> None:
    """The document RNN reads past the first window: a change at the end moves the logits."""
    model = _hierarchical("lstm", True, "max", 0)
    doc = np.arange(2, 32) % 38 + 2
    changed = doc.copy()
    changed[-1] = 3 if doc[-1] != 3 else 4
    with torch.no_grad():
        a = model(*pad_batch([doc]))
        b = model(*pad_batch([changed]))
    assert not torch.allclose(a, b, atol=1e-6)
