"""Windowed scoring with carried state equals scoring the whole document at once."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.models.windowed import windowed_logits
from doclstm.text.batching import pad_batch
from tests.doclstm.models.test_bag import randomize
from tests.doclstm.models.test_model_padding import _model

UNIDIRECTIONAL = [
    (cell, pooling, layers, 0)
    for cell in ("lstm", "gru")
    for pooling in ("last", "mean", "max", "attention", "concat")
    for layers in (1, 2)
] + [("lstm", "max", 1, 32)]  # with a token bag: it reads the whole document, bigrams across
# window borders included


@pytest.mark.parametrize(("cell", "pooling", "layers", "bag_buckets"), UNIDIRECTIONAL)
@settings(max_examples=8, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 90), min_size=1, max_size=6),
    window=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
)
def test_windows_with_carried_state_give_the_full_sequence_logits(
    cell: str,
    pooling: str,
    layers: int,
    bag_buckets: int,
    lengths: list[int],
    window: int,
    seed: int,
) -> None:
    model = _model(cell, False, pooling, layers, bag_buckets=bag_buckets)
    if model.bag is not None:
        randomize(model.bag)
    rng = np.random.default_rng(seed)
    docs = [rng.integers(1, 40, n) for n in lengths]
    ids, lens = pad_batch(docs)
    with torch.no_grad():
        whole = model(ids, lens, path="packed")
    windowed = windowed_logits(model, docs, window)
    torch.testing.assert_close(windowed, whole, atol=1e-5, rtol=0)


def test_windowing_without_the_carried_state_would_differ() -> None:
    """The property above can fail: restarting the state per window changes the answer."""
    model = _model("lstm", False, "mean", 1)
    doc = np.random.default_rng(0).integers(1, 40, 60)
    ids, lens = pad_batch([doc])
    with torch.no_grad():
        whole = model(ids, lens)
        windows_alone = [model(*pad_batch([doc[i : i + 20]])) for i in (0, 20, 40)]
    assert not torch.allclose(torch.stack(windows_alone).mean(0), whole, atol=1e-3)
    torch.testing.assert_close(windowed_logits(model, [doc], 20), whole, atol=1e-5, rtol=0)


def test_bidirectional_models_are_refused() -> None:
    with pytest.raises(ValueError, match="bidirectional"):
        windowed_logits(_model("lstm", True, "last", 1), [np.arange(1, 9)], 4)
