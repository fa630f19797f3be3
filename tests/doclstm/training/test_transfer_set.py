"""The transfer set's cache: computed once (in this process or in threads), reused without
running the teacher, resumed after a kill computing only the shards it had not written,
and refused in one line when it was made from other tokens or by another teacher."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from doclstm.config.params import TeacherParams
from doclstm.errors import DoclstmError
from doclstm.storage.token_data import TokenSplit, offsets_of
from doclstm.training.transfer_set import (
    TransferDocuments,
    build_transfer_set,
    disabled_transfer_set,
    load_transfer_set,
)

IDENTITY = {"tokens_fingerprint": "t" * 64, "teacher_fingerprint": "m" * 64}


def _documents() -> TransferDocuments:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 20, size=23)
    split = TokenSplit(
        [f"d{i}" for i in range(23)],
        np.where(np.arange(23) < 10, rng.integers(0, 3, 23), -1),
        rng.integers(1, 500, size=int(lengths.sum())).astype(np.int32),
        offsets_of(lengths),
    )
    return TransferDocuments(split, ["train"] * 10 + ["augmented"] * 13)


class Teacher:
    """A deterministic stand-in for MiniLM's logits that counts the documents it reads and
    can fail after some shards, as a killed run would."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.read = 0
        self.shards = 0
        self.fail_after = fail_after
        self.lock = threading.Lock()

    def __call__(self, shard: TokenSplit) -> np.ndarray:
        with self.lock:
            if self.fail_after is not None and self.shards >= self.fail_after:
                raise KeyboardInterrupt("killed")
            self.shards += 1
            self.read += len(shard)
        return np.stack(
            [[float(s.sum() % 7), float(len(s)), -1.0] for s in shard.sequences]
        ).astype(np.float32)


def _build(out: Path, teacher: Teacher, fingerprint: str = "f" * 64, runner: str = "inline"):
    params = TeacherParams(shard_documents=5, runner=runner, workers=2)
    return build_transfer_set(out, fingerprint, IDENTITY, _documents, teacher, params)


@pytest.mark.parametrize("runner", ["inline", "threads"])
def test_computed_once_then_reused_without_the_teacher(tmp_path: Path, runner: str) -> None:
    out = tmp_path / "transfer"
    first = Teacher()
    made = _build(out, first, runner=runner)
    assert (made.shards_computed, made.cached, first.read) == (5, False, 23)
    assert made.documents == {"train": 10, "augmented": 13}
    again = Teacher()
    reused = _build(out, again)
    assert (reused.cached, reused.shards_computed, again.read) == (True, 0, 0)
    loaded = load_transfer_set(out, IDENTITY["tokens_fingerprint"], IDENTITY["teacher_fingerprint"])
    assert loaded is not None
    split, manifest = loaded
    documents = _documents().split
    assert split.doc_ids == documents.doc_ids
    np.testing.assert_array_equal(split.tokens, documents.tokens)
    np.testing.assert_array_equal(split.label_ids, documents.label_ids)
    np.testing.assert_array_equal(split.teacher_logits, Teacher()(documents))
    assert manifest.summary["documents"] == made.documents
    # other settings (another fingerprint): computed again
    assert _build(out, Teacher(), "g" * 64).shards_computed == 5


@pytest.mark.parametrize("runner", ["inline", "threads"])
def test_a_killed_run_resumes_computing_only_the_shards_it_had_not_written(
    tmp_path: Path, runner: str
) -> None:
    out = tmp_path / "transfer"
    with pytest.raises(KeyboardInterrupt):
        _build(out, Teacher(fail_after=3), runner=runner)
    assert not (out / "manifest.json").exists()  # nothing looks whole
    written = sorted((tmp_path / "transfer.resume").glob("part-*.parquet"))
    assert 0 < len(written) <= 3
    rows = sum(pq.ParquetFile(w).metadata.num_rows for w in written)
    resumed = Teacher()
    result = _build(out, resumed, runner=runner)
    assert (result.shards_computed, resumed.read) == (5 - len(written), 23 - rows)
    whole = tmp_path / "whole"
    _build(whole, Teacher())
    ids = IDENTITY["tokens_fingerprint"], IDENTITY["teacher_fingerprint"]
    a, b = load_transfer_set(out, *ids), load_transfer_set(whole, *ids)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a[0].teacher_logits, b[0].teacher_logits)
    assert not (tmp_path / "transfer.resume").exists()


def test_a_set_for_other_tokens_or_another_teacher_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    out = tmp_path / "transfer"
    _build(out, Teacher())
    for tokens, teacher, what in (
        ("x" * 64, IDENTITY["teacher_fingerprint"], "other tokens"),
        (IDENTITY["tokens_fingerprint"], "y" * 64, "other teacher"),
    ):
        with pytest.raises(DoclstmError) as refused:
            load_transfer_set(out, tokens, teacher)
        message = str(refused.value)
        assert what in message and "doclstm stage teacher" in message and "\n" not in message


def test_a_disabled_teacher_leaves_no_transfer_set(tmp_path: Path) -> None:
    disabled_transfer_set(tmp_path / "transfer", "f" * 64)
    assert load_transfer_set(tmp_path / "transfer", "t" * 64) is None


def test_shards_read_before_a_failure_are_handed_on_before_it() -> None:
    """With threads, several shards can finish at once, one of them failed: the finished
    ones come first, in the order they were submitted, so a killed run keeps them all."""
    from concurrent.futures import Future

    from doclstm.training.logit_workers import _first_future

    failed, first, second = Future(), Future(), Future()
    failed.set_exception(RuntimeError("a shard failed"))
    second.set_result(np.ones(1))
    first.set_result(np.zeros(1))
    chosen, logits = _first_future([failed, first, second])
    assert chosen is first and logits.tolist() == [0.0]
    with pytest.raises(RuntimeError, match="a shard failed"):
        _first_future([failed])
