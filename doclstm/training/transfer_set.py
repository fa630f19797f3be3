"""The transfer set: the documents the student distils from, with the teacher's logits.

Its documents are the train split's, `teacher.augmented_copies` augmented copies
of each (doclstm/training/augment.py; no label of their own) and, with
`teacher.unlabelled`, the tokens' `unlabelled` split (no labels either). The
teacher reads each whole, in windows (doclstm/models/teacher_model.py), once:
the logits are computed in shards of `teacher.shard_documents` documents (in this
process, in threads or as Ray tasks: `teacher.runner`, doclstm/training/logit_workers.py),
each written whole (renamed into place) under `<out>.resume/`, so a killed run
computes only the shards it had not finished; then the folder appears whole
with its manifest, whose fingerprint holds the teacher's and the tokens'
fingerprints and the transfer settings. A training loads it only when both
fingerprints are the ones it trains with, and otherwise refuses in one line.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tokenizers import Tokenizer

from doclstm.config.params import TeacherParams
from doclstm.errors import DoclstmError
from doclstm.storage.atomic import atomic_dir
from doclstm.storage.manifest import (
    StageManifest,
    file_entry,
    fresh_manifest,
    stage_fingerprint,
)
from doclstm.storage.tables import data_parts, iter_verified_batches, part_name, write_table
from doclstm.storage.token_data import (
    TokenSplit,
    concat_splits,
    load_split,
    offsets_of,
    split_of_batches,
)
from doclstm.text.tokenizer import TOKENIZER_FILE, load_tokenizer
from doclstm.training.augment import Augmenter
from doclstm.training.checkpoint import resume_dir
from doclstm.training.logit_workers import ShardTeacher, Teach, shard_logits

log = logging.getLogger(__name__)
ORIGIN_TRAIN, ORIGIN_AUGMENTED, ORIGIN_UNLABELLED = "train", "augmented", "unlabelled"
SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("origin", pa.string()),
        ("label_id", pa.int32()),  # -1: no gold label (augmented, unlabelled)
        ("length", pa.int32()),
        ("input_ids", pa.list_(pa.int32())),
        ("teacher_logits", pa.list_(pa.float32())),
    ]
)
# Several labels a document: each document's label ids, null where it has no gold labels.
MULTILABEL_SCHEMA = SCHEMA.set(2, pa.field("label_ids", pa.list_(pa.int32())))


@dataclass(frozen=True)
class TransferDocuments:
    split: TokenSplit
    origins: list[str]


def transfer_documents(
    params: TeacherParams,
    seed: int,
    tokenizer: Tokenizer,
    train: TokenSplit,
    unlabelled: TokenSplit | None,
) -> TransferDocuments:
    """The train documents, their augmented copies (copy k of every document, for k in
    turn) and the unlabelled ones, in that order."""
    augmenter = Augmenter.for_tokenizer(
        tokenizer,
        params.mask_probability,
        params.ngram_probability,
        params.max_ngram,
        crop_tokens=params.window_tokens,
    )
    parts, origins = [train], [ORIGIN_TRAIN] * len(train)
    for k in range(params.augmented_copies):
        copies = [
            augmenter.copy(train.sequence(i), seed, d, k) for i, d in enumerate(train.doc_ids)
        ]
        parts.append(
            TokenSplit(
                [f"{d}#aug{k}" for d in train.doc_ids],
                _no_labels(len(train), train.label_ids),
                np.concatenate(copies) if copies else train.tokens[:0],
                offsets_of(np.array([len(c) for c in copies], dtype=np.int64)),
            )
        )
        origins += [ORIGIN_AUGMENTED] * len(train)
    if unlabelled is not None and params.unlabelled:
        parts.append(
            TokenSplit(
                unlabelled.doc_ids,
                _no_labels(len(unlabelled), train.label_ids),
                unlabelled.tokens,
                unlabelled.offsets,
            )
        )
        origins += [ORIGIN_UNLABELLED] * len(unlabelled)
    return TransferDocuments(concat_splits(parts), origins)


def _no_labels(documents: int, like: np.ndarray) -> np.ndarray:
    """No gold label for `documents` documents, as `like` holds labels: -1 each, or with
    several labels a document a row of -1 each."""
    return np.full((documents, *like.shape[1:]), -1, dtype=like.dtype)


def _label_column(label_ids: np.ndarray) -> pa.Array:
    """`label_id`, or with several labels a document the `label_ids` list (null: none)."""
    if label_ids.ndim == 1:
        return pa.array(label_ids.astype(np.int32), pa.int32())
    return pa.array(
        [None if (row < 0).any() else np.flatnonzero(row).tolist() for row in label_ids],
        pa.list_(pa.int32()),
    )


@dataclass(frozen=True)
class TransferResult:
    out_dir: Path
    documents: dict[str, int]  # by origin
    shards_computed: int  # shards whose logits this call computed (0: reused)
    cached: bool


def build_transfer_set(
    out_dir: Path,
    fingerprint: str,
    identity: dict[str, Any],
    documents: Callable[[], TransferDocuments],
    teach: Teach,
    params: TeacherParams,
) -> TransferResult:
    """The transfer set at `out_dir` for `fingerprint` (reused when it is there and whole),
    else computed in shards of `params.shard_documents` by `teach` on the `params.runner`
    workers, resuming from `<out_dir>.resume/`. `identity` (the teacher's and the tokens'
    fingerprints) goes into the summary, where `load_transfer_set` checks it."""
    cached = fresh_manifest(out_dir, fingerprint)
    if cached is not None:
        log.info("teacher: transfer set unchanged, reusing %s", out_dir)
        return TransferResult(out_dir, cached.summary["documents"], 0, cached=True)
    made = documents()
    staging = resume_dir(out_dir)
    stamp = staging / "fingerprint"
    if staging.exists() and (not stamp.is_file() or stamp.read_text() != fingerprint):
        shutil.rmtree(staging)  # begun for another teacher, tokens or settings
    staging.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    split, total, computed = made.split, len(made.split), 0
    size = params.shard_documents
    shards = [np.arange(start, min(start + size, total)) for start in range(0, total, size)]

    def missing() -> Iterator[tuple[int, TokenSplit]]:
        for index, rows in enumerate(shards):
            dest = staging / part_name(index)
            if dest.is_file() and pq.ParquetFile(dest).metadata.num_rows == len(rows):
                continue  # written whole by an earlier, interrupted run
            yield index, split.subset(rows)

    for index, logits in shard_logits(teach, missing(), params):
        rows = shards[index]
        table = _table(split.subset(rows), [made.origins[i] for i in rows], logits)
        write_table(table, staging / part_name(index))
        computed += 1
        log.info("teacher: transfer shard %d/%d: %d documents", index + 1, len(shards), len(rows))
    counts = {o: made.origins.count(o) for o in dict.fromkeys(made.origins)}
    with atomic_dir(out_dir) as tmp:
        for index in range(len(shards)):
            shutil.copyfile(staging / part_name(index), tmp / part_name(index))
        files = {part_name(i): file_entry(tmp / part_name(i)) for i in range(len(shards))}
        summary = {"enabled": True, "documents": counts, **identity}
        StageManifest("transfer", fingerprint, files, summary).write(tmp)
    shutil.rmtree(staging, ignore_errors=True)
    return TransferResult(out_dir, counts, computed, cached=False)


def _table(shard: TokenSplit, origins: list[str], logits: np.ndarray) -> pa.Table:
    lengths = shard.lengths
    multi = shard.label_ids.ndim == 2  # several labels a document
    return pa.table(
        {
            "doc_id": shard.doc_ids,
            "origin": origins,
            "label_ids" if multi else "label_id": _label_column(shard.label_ids),
            "length": lengths.astype(np.int32),
            "input_ids": pa.ListArray.from_arrays(
                pa.array(shard.offsets.astype(np.int32)), pa.array(shard.tokens, pa.int32())
            ),
            "teacher_logits": pa.ListArray.from_arrays(
                pa.array(np.arange(0, logits.size + 1, logits.shape[1], dtype=np.int32)),
                pa.array(logits.reshape(-1).astype(np.float32)),
            ),
        },
        schema=MULTILABEL_SCHEMA if multi else SCHEMA,
    )


def disabled_transfer_set(out_dir: Path, fingerprint: str) -> None:
    """The folder a disabled teacher leaves: a manifest saying so, which `train` reads."""
    with atomic_dir(out_dir) as tmp:
        StageManifest("transfer", fingerprint, {}, {"enabled": False}).write(tmp)


def load_transfer_set(
    out_dir: Path, tokens_fingerprint: str, teacher_fingerprint: str | None = None
) -> tuple[TokenSplit, StageManifest] | None:
    """The transfer set (teacher logits attached), or None when the teacher was disabled.
    Refused in one line when it was made from other tokens or by another teacher."""
    manifest = StageManifest.load(out_dir)
    summary = manifest.summary
    if not summary.get("enabled"):
        return None
    for what, made, wanted in (
        ("tokens", summary.get("tokens_fingerprint"), tokens_fingerprint),
        ("teacher", summary.get("teacher_fingerprint"), teacher_fingerprint),
    ):
        if wanted is not None and made != wanted:
            raise DoclstmError(
                f"{out_dir}: a transfer set made for other {what} ({str(made)[:12]}, these "
                f"are {wanted[:12]}); run the teacher stage again (doclstm stage teacher)"
            )
    batches = iter_verified_batches(out_dir, manifest)
    split = split_of_batches(batches, str(out_dir), True, summary.get("multi_label_count"))
    if not split.doc_ids or not data_parts(manifest, ""):
        raise DoclstmError(f"{out_dir}: an empty transfer set; run the teacher stage again")
    return split, manifest


def teacher_transfer_set(
    params: TeacherParams,
    seed: int,
    tokens_dir: Path,
    upstream: StageManifest,
    teacher_dir: Path,
    teacher: StageManifest,
    out_dir: Path,
    device: torch.device,
    unlabelled: str | None,
) -> TransferResult:
    """The transfer set of the fine-tuned teacher at `teacher_dir` (its manifest `teacher`)
        over the tokens at `tokens_dir`; `unlabelled` names the split of text without labels
        to include, if any. MiniLM is loaded only when a shard must be computed
    (doclstm/training/logit_workers.py)."""
    fingerprint = stage_fingerprint(
        "transfer",
        __name__,
        params.result_settings(),
        seed=seed,
        input=upstream.fingerprint,
        teacher=teacher.fingerprint,
    )
    tokenizer = load_tokenizer(tokens_dir / TOKENIZER_FILE)
    identity = {
        "tokens_fingerprint": upstream.fingerprint,
        "teacher_fingerprint": teacher.fingerprint,
        "teacher": {k: teacher.summary[k] for k in ("learning_rate", "best_epoch", "val", "test")},
        "augmented_copies": params.augmented_copies,
    }
    if upstream.summary.get("task") == "multi":  # several labels a document: label lists
        identity["multi_label_count"] = len(upstream.summary["labels"])

    def documents() -> TransferDocuments:
        train = load_split(tokens_dir, "train", upstream)
        extra = load_split(tokens_dir, unlabelled, upstream) if unlabelled else None
        return transfer_documents(params, seed, tokenizer, train, extra)

    # Ray workers pick their own device from the setting; here, the stage's device.
    where = params.device if params.runner == "ray" else device.type
    teach = ShardTeacher(
        teacher_dir, teacher.fingerprint, tokens_dir / TOKENIZER_FILE, params, where
    )
    return build_transfer_set(out_dir, fingerprint, identity, documents, teach, params)
