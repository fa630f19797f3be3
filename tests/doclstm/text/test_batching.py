"""BucketBatchSampler invariants, for arbitrary lengths and budgets."""

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.config.params import load_params
from doclstm.text.batching import BucketBatchSampler

REPO = Path(__file__).resolve().parents[3]

params = st.tuples(
    st.lists(st.integers(1, 300), min_size=1, max_size=400),
    st.integers(1, 4000),  # batch_tokens
    st.integers(1, 1024),  # max_batch_size (the shipped cap is 512)
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


def test_short_texts_fill_the_token_budget_with_the_shipped_settings() -> None:
    """Tweets of ~20 tokens get steps about as large as articles' (not 32 x 20 tokens)."""
    train = load_params(REPO / "params.yaml").train

    def median_step_tokens(lengths: np.ndarray) -> float:
        sampler = BucketBatchSampler(lengths, train.batch_tokens, train.max_batch_size, seed=0)
        return float(np.median([lengths[b].sum() for b in sampler.batches()]))

    short = median_step_tokens(np.random.default_rng(0).integers(8, 32, size=20_000))
    articles = median_step_tokens(np.full(2_000, 384))  # BBC News articles cut at 384
    assert short >= 0.6 * train.batch_tokens
    assert short >= 0.6 * articles


def test_epochs_shuffle_and_bucketing_cuts_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 500, size=2000)
    sampler = BucketBatchSampler(lengths, 8192, 64, seed=1)
    first = [b.tolist() for b in sampler.batches()]
    sampler.set_epoch(1)
    assert [b.tolist() for b in sampler.batches()] != first
    random_batches = [np.arange(i, min(i + 32, 2000)) for i in range(0, 2000, 32)]
    assert sampler.padding_waste() < 0.05 < sampler.padding_waste(random_batches)


@settings(max_examples=100, deadline=None)
@given(case=params, world=st.integers(1, 4), epoch=st.integers(0, 20))
def test_ranks_split_the_batches_without_overlap(case: tuple, world: int, epoch: int) -> None:
    lengths, budget, max_size, seed, pool = case
    ranks = [
        BucketBatchSampler(
            lengths, budget, max_size, seed, pool_batches=pool, num_replicas=world, rank=r
        )
        for r in range(world)
    ]
    for sampler in ranks:
        sampler.set_epoch(epoch)
    per_rank = [sampler.batches() for sampler in ranks]
    assert len({len(b) for b in per_rank}) == 1  # every rank runs the same number of steps
    seen = [int(i) for batches in per_rank for batch in batches for i in batch]
    assert len(seen) == len(set(seen))  # no document on two ranks
    everything = ranks[0].global_batches()
    assert len(everything) - sum(len(b) for b in per_rank) < world  # at most world-1 left out
    left_out = everything[len(everything) - len(everything) % world :]
    assert sorted(seen + [int(i) for b in left_out for i in b]) == list(range(len(lengths)))


@settings(max_examples=100, deadline=None)
@given(case=params, epoch=st.integers(0, 20), data=st.data())
def test_state_dict_resumes_at_the_exact_batch(case: tuple, epoch: int, data) -> None:
    lengths, budget, max_size, seed, pool = case
    first = BucketBatchSampler(lengths, budget, max_size, seed, pool_batches=pool)
    first.set_epoch(epoch)
    whole = list(first)
    consumed = data.draw(st.integers(0, len(whole)))
    first.position = consumed
    state = first.state_dict()
    second = BucketBatchSampler(lengths, budget, max_size, seed, pool_batches=pool)
    second.load_state_dict(state)
    assert whole[:consumed] + list(second) == whole
    second.set_epoch(epoch + 1)  # a new epoch starts from its first batch
    assert second.position == 0 and len(list(second)) == len(second)


def test_state_dict_refuses_other_data() -> None:
    import pytest

    state = BucketBatchSampler([3, 4, 5], 100, 8, seed=1).state_dict()
    with pytest.raises(ValueError, match="documents"):
        BucketBatchSampler([3, 4], 100, 8, seed=1).load_state_dict(state)
    with pytest.raises(ValueError, match="seed"):
        BucketBatchSampler([3, 4, 5], 100, 8, seed=2).load_state_dict(state)


@settings(max_examples=100, deadline=None)
@given(sequences=st.lists(st.lists(st.integers(1, 99), min_size=1, max_size=20), min_size=1))
def test_pad_batch_keeps_every_token_in_place(sequences: list[list[int]]) -> None:
    from doclstm.text.batching import pad_batch

    ids, lengths = pad_batch([np.asarray(s) for s in sequences])
    assert lengths.tolist() == [len(s) for s in sequences]
    assert ids.shape == (len(sequences), max(map(len, sequences)))
    for row, seq in zip(ids.tolist(), sequences, strict=True):
        assert row[: len(seq)] == seq and set(row[len(seq) :]) <= {0}


@settings(max_examples=200, deadline=None)
@given(documents=st.integers(1, 10**6), cap=st.integers(1, 1024), steps=st.integers(0, 500))
def test_batch_documents_keeps_enough_steps_and_the_cap(
    documents: int, cap: int, steps: int
) -> None:
    train = load_params(
        None, [f"train.max_batch_size={cap}", f"train.min_steps_per_epoch={steps}"]
    ).train
    size = train.batch_documents(documents)
    assert 1 <= size <= cap
    if steps:
        # batches of `size` documents give at least min_steps_per_epoch steps, or one
        # document each when the split has fewer documents than that
        assert -(-documents // size) >= min(steps, documents) or size == cap
