"""tokenize: train a subword tokenizer on train text and write token shards.

With `tokenize.tokenizer` set, that kept tokenizer.json is used as is (copied
byte for byte) instead: the vocabulary, and so the tokenizer sha256 that a
pretrained encoder and a model are checked against, stays the same from run
to run. The fingerprint then hashes the file's content, not its path or the
training settings.

Output contract (`data/tokens/`): `<split>/part-NNNNN.parquet` with doc_id,
label_id, length (int32), input_ids (list<int32>) and full_length (int32,
the tokens before `tokenize.max_tokens` cut any; a multi-label dataset has
label_ids, a list, instead of label_id), rows sorted by length
within each shard, about `tokenize.shard_tokens` tokens a shard, zstd;
`tokenizer.json`, `labels.json` (label_id -> name) and `manifest.json`
(tokenizer sha256, the task, params and their sha256, source fingerprint, every
shard's rows, tokens and sha256, per-split length histogram, documents over max_tokens and
truncation counts). A rerun with unchanged inputs writes nothing; one that
finds shards missing or corrupt writes only those again.

Run: `doclstm stage tokenize [--repair]`; `doclstm inspect tokens` reports on the folder.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from tokenizers import Encoding, Tokenizer

from doclstm.config.params import TokenizeParams
from doclstm.errors import DoclstmError
from doclstm.sources.splits import SPLITS, UNLABELLED
from doclstm.storage.atomic import atomic_dir, write_json
from doclstm.storage.fingerprint import sha256_file, sha256_json
from doclstm.storage.manifest import (
    FileEntry,
    StageManifest,
    file_entry,
    stage_fingerprint,
)
from doclstm.storage.tables import TOKENS, TOKENS_MULTI, iter_verified_batches
from doclstm.storage.token_data import LABELS_FILE
from doclstm.text.token_shards import ShardWriter
from doclstm.text.tokenizer import (
    TOKENIZER_FILE,
    encode_batch,
    fixed_vocabulary_sha256,
    load_pinned_tokenizer,
    load_tokenizer,
    train_tokenizer,
)

log = logging.getLogger(__name__)
NO_LABEL = -1


@dataclass(frozen=True)
class TokenizeResult:
    out_dir: Path
    shards: int
    documents: int
    tokens: int
    truncated: int
    cached: bool
    repaired: tuple[str, ...] = ()  # shards written again because they were broken


def tokenize_corpus(
    params: TokenizeParams,
    validated_dir: Path,
    out_dir: Path,
    pinned: Path | None = None,
    repair: bool = False,
) -> TokenizeResult:
    """Tokenize the validated documents into `out_dir`, with a tokenizer trained on the
    train split or the `pinned` one; skipped when nothing changed.

    When inputs and params are unchanged but shards are missing or corrupt,
    only those shards are written again, with the saved tokenizer, and each
    must come out with its recorded checksum. `repair=True` allows nothing
    else: it fails rather than rebuild everything.
    """
    upstream = StageManifest.load(validated_dir)
    fingerprint = stage_fingerprint(
        "tokenize",
        __name__,
        params.result_settings(fixed_vocabulary_sha256(params, pinned)),
        input=upstream.fingerprint,
    )
    existing = _manifest_if_any(out_dir)
    if existing is not None and existing.fingerprint == fingerprint:
        broken = existing.broken_files(out_dir)
        if not broken:
            log.info("tokenize: validated data and params unchanged, reusing %s", out_dir)
            return _result(out_dir, existing, cached=True)
        if not set(broken) & {TOKENIZER_FILE, LABELS_FILE}:
            return _repair(params, validated_dir, upstream, out_dir, existing, broken)
    if repair:
        why = "the tokenizer or labels are damaged" if existing else "there is no manifest"
        if existing is not None and existing.fingerprint != fingerprint:
            why = "inputs or params changed since it was written"
        raise DoclstmError(
            f"tokenize --repair: {out_dir} cannot be repaired in place ({why}); "
            "run `doclstm stage tokenize` without --repair to rebuild it"
        )

    labels: list[str] = upstream.summary["labels"]
    task = task_of(upstream)

    def train_texts() -> Iterator[list[str]]:  # train split only: val/test never leak in
        for batch in iter_verified_batches(validated_dir, upstream, columns=["split", "text"]):
            yield batch.filter(pc.equal(batch["split"], "train"))["text"].to_pylist()

    with atomic_dir(out_dir) as tmp:
        if pinned is None:
            tokenizer = train_tokenizer(train_texts, params)
            tokenizer.save(str(tmp / TOKENIZER_FILE))
        else:
            tokenizer = load_pinned_tokenizer(pinned)
            shutil.copyfile(pinned, tmp / TOKENIZER_FILE)
        write_json(tmp / LABELS_FILE, labels)
        writers = encode_shards(tokenizer, labels, task, validated_dir, upstream, tmp, params)
        files: dict[str, FileEntry] = {
            TOKENIZER_FILE: file_entry(tmp / TOKENIZER_FILE),
            LABELS_FILE: file_entry(tmp / LABELS_FILE),
        }
        splits: dict[str, Any] = {}
        for split, writer in writers.items():
            if writer.stats["documents"]:
                files |= writer.files
                splits[split] = writer.stats
        summary = {
            "tokenizer_sha256": sha256_file(tmp / TOKENIZER_FILE),
            "tokenizer_from": _tokenizer_from(params, pinned),
            "vocab_size": tokenizer.get_vocab_size(),
            "task": task,
            "labels": labels,
            "source_fingerprint": upstream.fingerprint,
            "params_sha256": sha256_json(params.model_dump(mode="json")),
            "params": params.model_dump(mode="json"),
            "splits": splits,
        }
        manifest = StageManifest("tokenize", fingerprint, files, summary)
        manifest.write(tmp)
    log.info(
        "tokenize: %s",
        "; ".join(
            f"{s} {v['documents']:,} documents, {v['tokens']:,} tokens" for s, v in splits.items()
        ),
    )
    return _result(out_dir, manifest, cached=False)


def task_of(manifest: StageManifest) -> str:
    """single or multi (several labels a document), as validate resolved it."""
    return str(manifest.summary.get("task", "single"))


def encode_shards(
    tokenizer: Tokenizer,
    labels: list[str],
    task: str,
    validated_dir: Path,
    upstream: StageManifest,
    root: Path,
    params: TokenizeParams,
    only: set[str] | None = None,
) -> dict[str, ShardWriter]:
    """Encode every validated document into shards under `root` (or just the `only` ones).

    The next chunk is encoded in a background thread (the Rust encoder
    releases the GIL) while this one is truncated, sorted and written:
    without the overlap the pass ran at 0.81-0.90 of bare `encode_batch`,
    the Python half idling the encoder (benchmarks/tokenize.py).
    """
    schema = TOKENS_MULTI if task == "multi" else TOKENS
    writers = {s: ShardWriter(root, s, params, schema, only) for s in (*SPLITS, UNLABELLED)}
    label_ids = {name: i for i, name in enumerate(labels)}

    def ids_of(label: str | None, several: list[str] | None) -> int | list[int] | None:
        if task == "multi":
            return None if several is None else [label_ids[name] for name in several]
        return label_ids.get(label, NO_LABEL)  # type: ignore[arg-type]

    chunks = _chunks(validated_dir, upstream, params.encode_batch_docs)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as encoder:
        pending = _submit(encoder, tokenizer, next(chunks, None))
        while pending is not None:
            chunk, encoded = pending[0], pending[1].result()
            pending = _submit(encoder, tokenizer, next(chunks, None))
            for doc_id, label, several, split, encoding in zip(
                chunk["doc_id"],
                chunk["label"],
                chunk["labels"],
                chunk["split"],
                encoded,
                strict=True,
            ):
                writers[split].add(doc_id, ids_of(label, several), encoding.ids)
    for writer in writers.values():
        writer.flush()
    return writers


def _chunks(
    validated_dir: Path, upstream: StageManifest, size: int
) -> Iterator[dict[str, list[Any]]]:
    for batch in iter_verified_batches(validated_dir, upstream):
        for start in range(0, batch.num_rows, size):
            yield batch.slice(start, size).to_pydict()


def _submit(
    encoder: ThreadPoolExecutor, tokenizer: Tokenizer, chunk: dict[str, list[Any]] | None
) -> tuple[dict[str, list[Any]], Future[list[Encoding]]] | None:
    if chunk is None:
        return None
    return chunk, encoder.submit(encode_batch, tokenizer, chunk["text"])


def _repair(
    params: TokenizeParams,
    validated_dir: Path,
    upstream: StageManifest,
    out_dir: Path,
    manifest: StageManifest,
    broken: dict[str, str],
) -> TokenizeResult:
    """Write the `broken` shards again; re-tokenizing is deterministic, so each must come
    out byte-identical to what the manifest recorded."""
    for name, why in sorted(broken.items()):
        log.warning("tokenize: %s is %s; writing it again", out_dir / name, why)
    tokenizer = load_tokenizer(manifest.verified_file(out_dir, TOKENIZER_FILE))
    labels: list[str] = manifest.summary["labels"]
    task = task_of(manifest)
    only = set(broken)
    encode_shards(tokenizer, labels, task, validated_dir, upstream, out_dir, params, only=only)
    still = manifest.broken_files(out_dir)
    if still:
        raise DoclstmError(
            f"tokenize: {', '.join(sorted(still))} came out different from the manifest "
            f"after repair; run `doclstm stage tokenize` on a fresh {out_dir} to rebuild it"
        )
    log.info("tokenize: repaired %d shard(s) in %s", len(broken), out_dir)
    return _result(out_dir, manifest, cached=False, repaired=tuple(sorted(broken)))


def _tokenizer_from(params: TokenizeParams, pinned: Path | None) -> str:
    if pinned is not None:
        return str(pinned)
    if params.model == "minilm":
        return "MiniLM's vocabulary"
    return "trained on the train split"


def _manifest_if_any(out_dir: Path) -> StageManifest | None:
    try:
        return StageManifest.load(out_dir)
    except DoclstmError:
        return None


def _result(
    out_dir: Path, manifest: StageManifest, cached: bool, repaired: tuple[str, ...] = ()
) -> TokenizeResult:
    splits = manifest.summary["splits"].values()
    return TokenizeResult(
        out_dir=out_dir,
        shards=sum(s["shards"] for s in splits),
        documents=sum(s["documents"] for s in splits),
        tokens=sum(s["tokens"] for s in splits),
        truncated=sum(s["truncated"] for s in splits),
        cached=cached,
        repaired=repaired,
    )
