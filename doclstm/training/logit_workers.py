"""Where the transfer set's shards are read by the teacher: in this process, in threads, or
as Ray tasks (`teacher.runner`), the scale-out choices scoring offers (`score.runner`).

The coordinating process keeps the shards' order of submission and writes every shard
itself, as each one's logits come back, so a killed run resumes from the shards already
written whatever ran them. At most `2 x teacher.workers` shards are out at a time. A
worker (a thread, or a Ray worker process) loads the fine-tuned teacher from its folder
once and keeps it for every shard it is given; with Ray that folder must be readable
by the workers, as the workspace is when scoring on Ray.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from tokenizers import Tokenizer

from doclstm.config.params import TeacherParams
from doclstm.models.device import pick_device
from doclstm.models.teacher_model import TeacherClassifier, load_teacher
from doclstm.storage.token_data import TokenSplit
from doclstm.text.tokenizer import load_tokenizer
from doclstm.training.optimization import autocast_dtype
from doclstm.training.teacher_fit import autocast_precision, document_logits, split_windows

# A shard's documents -> their logits (documents, outputs): the teacher reading them.
Teach = Callable[[TokenSplit], np.ndarray]
Handle = TypeVar("Handle")


@dataclass(frozen=True)
class ShardTeacher:
    """The fine-tuned teacher at `teacher_dir` (fingerprint `fingerprint`) reading a shard of
    student token ids, decoded with the student's tokenizer at `tokenizer_path`, on
    `device` (a `teacher.device` setting). Picklable: a Ray task carries it, and MiniLM is
    loaded on its first shard in a process."""

    teacher_dir: Path
    fingerprint: str
    tokenizer_path: Path
    params: TeacherParams
    device: str

    def __call__(self, shard: TokenSplit) -> np.ndarray:
        model, tokenizer, device = _loaded(self)
        amp = autocast_dtype(autocast_precision(self.params.precision, device), device)
        windows = split_windows(tokenizer, shard, self.params)
        budget = self.params.batch_size * self.params.window_tokens * 4
        return document_logits(model, windows.ids, windows.owner, budget, device, amp)


_loading = threading.Lock()
_loaded_teacher: dict[tuple[str, str, str], tuple[TeacherClassifier, Tokenizer, torch.device]] = {}


def _loaded(teacher: ShardTeacher) -> tuple[TeacherClassifier, Tokenizer, torch.device]:
    """The model, the student's tokenizer and the device: loaded once in a process, for
    every thread and every shard it reads."""
    key = (str(teacher.teacher_dir), teacher.fingerprint, teacher.device)
    with _loading:
        if key not in _loaded_teacher:
            device = pick_device(teacher.device)
            model = load_teacher(teacher.teacher_dir, device)[0]
            _loaded_teacher.clear()  # one teacher a process
            _loaded_teacher[key] = (model, load_tokenizer(teacher.tokenizer_path), device)
        return _loaded_teacher[key]


def shard_logits(
    teach: Teach, shards: Iterable[tuple[int, TokenSplit]], params: TeacherParams
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, logits) for every (index, shard), in the order they finish."""
    if params.runner == "inline":
        for index, shard in shards:
            yield index, teach(shard)
    elif params.runner == "threads":
        with ThreadPoolExecutor(params.workers, thread_name_prefix="teacher") as pool:
            yield from _bounded(
                shards,
                lambda shard: pool.submit(teach, shard),
                _first_future,
                2 * params.workers,
            )
    else:
        yield from _on_ray(teach, shards, params)


def _first_future(pending: list[Future[np.ndarray]]) -> tuple[Any, np.ndarray]:
    """The first finished shard in the order they were submitted; one that failed only when
    none finished well, so that every shard read before a failure is written (and kept for
    the resume) before the failure is raised."""
    done = wait(pending, return_when=FIRST_COMPLETED).done
    finished = [future for future in pending if future in done]
    chosen = next((f for f in finished if f.exception() is None), finished[0])
    return chosen, chosen.result()


def _bounded(
    shards: Iterable[tuple[int, TokenSplit]],
    submit: Callable[[TokenSplit], Handle],
    first_done: Callable[[list[Handle]], tuple[Handle, np.ndarray]],
    window: int,
) -> Iterator[tuple[int, np.ndarray]]:
    pending: dict[Any, int] = {}

    def collect() -> tuple[int, np.ndarray]:
        handle, logits = first_done(list(pending))
        return pending.pop(handle), logits

    for index, shard in shards:
        while len(pending) >= window:
            yield collect()
        pending[submit(shard)] = index
    while pending:
        yield collect()


def _on_ray(
    teach: Teach, shards: Iterable[tuple[int, TokenSplit]], params: TeacherParams
) -> Iterator[tuple[int, np.ndarray]]:
    import ray

    address = params.ray_address or os.environ.get("RAY_ADDRESS") or None
    started = not ray.is_initialized()
    if started and address:
        ray.init(address=address, log_to_driver=False)
    elif started:
        ray.init(num_cpus=params.workers, include_dashboard=False, log_to_driver=False)
    try:
        gpus = 1 if params.device == "cuda" else 0
        remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=2)(_teach_remotely)

        def first_ready(pending: list[Any]) -> tuple[Any, np.ndarray]:
            ready, _ = ray.wait(pending, num_returns=1)
            return ready[0], ray.get(ready[0])

        yield from _bounded(
            shards, lambda shard: remote.remote(teach, shard), first_ready, 2 * params.workers
        )
    finally:
        if started:
            ray.shutdown()


def _teach_remotely(teach: Teach, shard: TokenSplit) -> np.ndarray:
    return teach(shard)
