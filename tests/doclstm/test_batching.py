"""BucketBatchSampler invariants, for arbitrary lengths and budgets."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.batching import BucketBatchSampler

params = st.tuples(
    st.lists(st.integers(1, 300), min_size=1, max_size=400),
    st.integers(1, 4000),  # batch_tokens
    st.integers(1, 64),  # max_batch_size
    st.integers(0, 2**32 - 1),  # seed
    st.integers(1, 5),  # pool_batches
)


@settings(max_examples=200, deadline=None)
@given(case=params)
def test_every_document_exactly_once_within_budget(case: tuple) -> None:
    lengths, budget, max_size, seed, pool = case
    sampler = BucketBatchSampler(lengths, budget, max_size, seed, pool_batches=pool)
    batches = sampler.batches()
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(len(lengths)))
    lens = np.asarray(lengths)
    for batch in batches:
        assert 1 <= len(batch) <= max_size
        # A single document longer than the budget still gets a batch of its own.
        assert len(batch) == 1 or lens[batch].max() * len(batch) <= budget


@settings(max_examples=50, deadline=None)
@given(case=params, epoch=st.integers(0, 100))
def test_deterministic_for_seed_and_epoch(case: tuple, epoch: int) -> None:
    lengths, budget, max_size, seed, pool = case
    a = BucketBatchSampler(lengths, budget, max_size, seed, pool_batches=pool)
    b = BucketBatchSampler(lengths, budget, max_size, seed, pool_batches=pool)
    a.set_epoch(epoch)
    b.set_epoch(epoch)
    assert [x.tolist() for x in a.batches()] == [x.tolist() for x in b.batches()]


def test_epochs_shuffle_and_bucketing_cuts_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 500, size=2000)
    sampler = BucketBatchSampler(lengths, 8192, 64, seed=1)
    first = [b.tolist() for b in sampler.batches()]
    sampler.set_epoch(1)
    assert [b.tolist() for b in sampler.batches()] != first
    random_batches = [np.arange(i, min(i + 32, 2000)) for i in range(0, 2000, 32)]
    assert sampler.padding_waste() < 0.05 < sampler.padding_waste(random_batches)
