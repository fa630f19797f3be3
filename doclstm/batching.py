"""Length-bucketed, token-budget batches for variable-length sequences.

`BucketBatchSampler` needs only the lengths (the `length` column of the
shards). Each epoch it shuffles the documents with a seed, sorts them by
length inside pools of `pool_batches` batches' worth, cuts each pool into
batches whose padded size (longest x count) stays within `batch_tokens` and
`max_batch_size`, and shuffles the batch order. Same seed and epoch, same
batches. `padding_waste` reports padded tokens / real tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from doclstm.tokenizer import PAD_ID


class BucketBatchSampler:
    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_tokens: int,
        max_batch_size: int,
        seed: int,
        shuffle: bool = True,
        pool_batches: int = 100,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.size and self.lengths.min() < 1:
            raise ValueError("every sequence needs length >= 1")
        self.batch_tokens = batch_tokens
        self.max_batch_size = max_batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.pool = max(pool_batches * max_batch_size, 1)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths)) if self.shuffle else np.arange(len(self.lengths))
        batches: list[np.ndarray] = []
        for start in range(0, len(order), self.pool):
            pool = order[start : start + self.pool]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches.extend(self._cut(pool))
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches():
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self.batches())

    def padding_waste(self, batches: list[np.ndarray] | None = None) -> float:
        batches = self.batches() if batches is None else batches
        real = sum(int(self.lengths[b].sum()) for b in batches)
        padded = sum(int(self.lengths[b].max()) * len(b) for b in batches)
        return (padded - real) / max(real, 1)

    def _cut(self, sorted_pool: np.ndarray) -> Iterator[np.ndarray]:
        start = 0
        for end in range(1, len(sorted_pool) + 1):
            count = end - start
            longest = int(self.lengths[sorted_pool[end - 1]])
            if count > 1 and (count > self.max_batch_size or longest * count > self.batch_tokens):
                yield sorted_pool[start : end - 1]
                start = end - 1
        if start < len(sorted_pool):
            yield sorted_pool[start:]


def pad_batch(sequences: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (batch, longest) and lengths; empty sequences are not allowed."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    ids = torch.full((len(sequences), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.from_numpy(np.asarray(seq, dtype=np.int64))
    return ids, lengths
