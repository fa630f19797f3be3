"""Length-bucketed, token-budget batches for variable-length sequences.

`BucketBatchSampler` needs only the lengths (the `length` column of the
shards). Each epoch it shuffles the documents with a seed, sorts them by
length inside pools of `pool_batches` batches' worth, cuts each pool into
batches whose padded size (longest x count) stays within `batch_tokens` and
`max_batch_size`, and shuffles the batch order. Same seed and epoch, same
batches. `padding_waste` reports padded tokens / real tokens.

Under DDP every rank builds the same global batch list and takes every
`num_replicas`-th batch from its rank on; the last `len % num_replicas`
batches of the shuffled order are left out that epoch so every rank runs
the same number of steps (a different few each epoch), and no document is
seen by two ranks. For exact resume, `position` counts the batches of the
epoch already trained on (the trainer advances it: a DataLoader prefetches
ahead, so the sampler cannot count for itself) and iteration starts there.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from doclstm.storage.token_data import TokenSplit
from doclstm.text.tokenizer import PAD_ID


class BucketBatchSampler:
    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_tokens: int,
        max_batch_size: int,
        seed: int,
        shuffle: bool = True,
        pool_batches: int = 100,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.size and self.lengths.min() < 1:
            raise ValueError("every sequence needs length >= 1")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in 0..{num_replicas - 1}")
        self.batch_tokens = batch_tokens
        self.max_batch_size = max_batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.pool = max(pool_batches * max_batch_size, 1)
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.position = 0
        self._cached: tuple[int, list[np.ndarray]] | None = None

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.position = 0
        self.epoch = epoch

    def global_batches(self) -> list[np.ndarray]:
        """Every rank's batches of this epoch, in order (rank r takes r, r + n, ...)."""
        if self._cached is not None and self._cached[0] == self.epoch:
            return self._cached[1]
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths)) if self.shuffle else np.arange(len(self.lengths))
        batches: list[np.ndarray] = []
        for start in range(0, len(order), self.pool):
            pool = order[start : start + self.pool]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches.extend(self._cut(pool))
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        self._cached = (self.epoch, batches)
        return batches

    def batches(self) -> list[np.ndarray]:
        """This rank's batches of this epoch, from the first (ignores `position`)."""
        batches = self.global_batches()
        usable = len(batches) - len(batches) % self.num_replicas
        return batches[self.rank : usable : self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches()[self.position :]:
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self.batches())

    def state_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "position": self.position,
            "num_replicas": self.num_replicas,
            "documents": len(self.lengths),
            "tokens": int(self.lengths.sum()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = self.state_dict()
        for key in ("seed", "num_replicas", "documents", "tokens"):
            if state[key] != mine[key]:
                raise ValueError(
                    f"sampler state is for {key}={state[key]}, this sampler has {mine[key]}"
                )
        self.epoch = state["epoch"]
        self.position = state["position"]

    def padding_waste(self, batches: list[np.ndarray] | None = None) -> float:
        batches = self.batches() if batches is None else batches
        real = sum(int(self.lengths[b].sum()) for b in batches)
        padded = sum(int(self.lengths[b].max()) * len(b) for b in batches)
        return (padded - real) / max(real, 1)

    def _cut(self, sorted_pool: np.ndarray) -> Iterator[np.ndarray]:
        start = 0
        lengths = self.lengths[sorted_pool].tolist()
        for end in range(1, len(sorted_pool) + 1):
            count = end - start
            if count > 1 and (
                count > self.max_batch_size or lengths[end - 1] * count > self.batch_tokens
            ):
                yield sorted_pool[start : end - 1]
                start = end - 1
        if start < len(sorted_pool):
            yield sorted_pool[start:]


def pad_batch(sequences: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (batch, longest) and lengths; empty sequences are not allowed."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    ids = np.full((len(sequences), int(lengths.max())), PAD_ID, dtype=np.int64)
    ids[np.arange(ids.shape[1])[None, :] < lengths[:, None]] = np.concatenate(sequences)
    return torch.from_numpy(ids), torch.from_numpy(lengths)


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class TokenBatches(Dataset[Batch]):
    """A split served a whole batch at a time: item `[i, j, ...]` is (ids, lengths, labels,
    teacher logits), the last (documents, 0) when the split has none.

    Used with `DataLoader(..., sampler=<BucketBatchSampler>, batch_size=None)`, so
    each worker pads a batch in one call instead of collating documents one by one.
    """

    def __init__(self, split: TokenSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, batch: list[int]) -> Batch:
        ids, lengths = pad_batch([self.split.sequence(i) for i in batch])
        logits = self.split.teacher_logits
        targets = (
            torch.zeros((len(batch), 0)) if logits is None else torch.from_numpy(logits[batch])
        )
        return ids, lengths, torch.from_numpy(self.split.label_ids[batch]), targets


def batch_loader(
    split: TokenSplit,
    sampler: BucketBatchSampler,
    workers: int,
    device: torch.device,
    seed: int,
) -> DataLoader[Batch]:
    """Batches of `split` in `sampler` order, padded by `workers` processes ahead of use.

    Workers start from a fork server (torch preloaded), not by forking the trainer:
    a process forked from one that runs a Prefect flow dies in the interpreter's
    exit path with status 1. They live for the whole training (starting them
    each epoch cost ~2 s an epoch); call `close_loader` when done, rather than
    leave them to the garbage collector. Each worker ends with the trainer, even
    one killed by SIGKILL (`end_with_process`). The loader has its own
    generator: creating an iterator would otherwise draw from the global RNG,
    and a resumed epoch would get other dropout masks than an uninterrupted one.
    """
    context = None
    init = None
    if workers > 0:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["doclstm.text.batching"])
        init = functools.partial(end_with_process, os.getpid())
    return DataLoader(
        TokenBatches(split),
        sampler=sampler,
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed),
        multiprocessing_context=context,
        worker_init_fn=init,
    )


def end_with_process(pid: int, worker_id: int = 0) -> None:
    """Exit this loader worker as soon as process `pid` (the trainer) has ended.

    torch's watchdog only asks whether the worker's parent is alive, and a worker's
    parent is the fork server, which lives as long as any worker holds its liveness
    pipe: after a SIGKILL of the trainer, both would otherwise live on for good."""
    threading.Thread(target=_exit_after, args=(pid,), name="end-with-trainer", daemon=True).start()


def _exit_after(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)  # Linux >= 5.3: readable once the process has ended
    except (AttributeError, OSError):  # elsewhere, or it has ended already: ask each second
        while _running(pid):
            time.sleep(1.0)
    else:
        select.select([handle], [], [])
    os._exit(0)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process by that number: still running
        pass
    return True


def close_loader(loader: DataLoader[Any]) -> None:
    """Join a loader's persistent workers now, not whenever the garbage collector runs."""
    iterator = getattr(loader, "_iterator", None)  # where torch keeps the live workers
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    loader._iterator = None
