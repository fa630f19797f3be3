"""Tokenize throughput: the stage's encoding pass against bare `Tokenizer.encode_batch`.

IMDB (100,000 reviews from the archive) is ingested and validated
into a temp workspace, and a tokenizer trained on its train split with the
settings of params.yaml. Then, in turns, best of `--repeat` each:

- bare: `Tokenizer.encode_batch` over the same texts, already in memory, in
  batches of `tokenize.encode_batch_docs`: the least any tokenizer user does;
- stage: the tokenize stage's encoding pass on the same tokenizer: reading
  the verified validated parts, encoding, truncating, sorting, writing
  zstd shards with checksums.

Both print documents/s and tokens/s; the ratio is stage / bare (goal >=
0.8). Training the tokenizer is a separate, one-off cost, printed on its
own, and last the whole stage runs once end to end.

    .venv/bin/python -m benchmarks.tokenize [--archive aclImdb_v1.tar.gz]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.compute as pc

from benchmarks.arguments import IMDB_ARCHIVE
from doclstm.config.params import load_params
from doclstm.storage.manifest import StageManifest
from doclstm.storage.tables import iter_verified_batches
from doclstm.tasks.ingest import ingest_documents
from doclstm.tasks.tokenize import encode_shards, task_of, tokenize_corpus
from doclstm.tasks.validate import validate_documents
from doclstm.text.tokenizer import train_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=IMDB_ARCHIVE)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    archive = args.archive.resolve()
    if not archive.is_file():
        sys.exit(f"{archive}: not found; pass --archive PATH")
    params = load_params(args.params, [f"ingest.source={archive}"])
    with tempfile.TemporaryDirectory(prefix="doclstm-bench-") as tmp:
        ws = Path(tmp)
        ingest_documents(params.ingest, ws, ws / "ingested", ws / "quarantine")
        validate_documents(
            params.validate_, ws / "ingested", ws / "validated", ws / "quarantine", ws / "report"
        )
        validated = ws / "validated"
        upstream = StageManifest.load(validated)
        texts = [
            t
            for b in iter_verified_batches(validated, upstream, columns=["text"])
            for t in b["text"].to_pylist()
        ]

        def train_texts() -> Iterator[list[str]]:
            for batch in iter_verified_batches(validated, upstream, columns=["split", "text"]):
                yield batch.filter(pc.equal(batch["split"], "train"))["text"].to_pylist()

        started = time.perf_counter()
        tokenizer = train_tokenizer(train_texts, params.tokenize)
        train_s = time.perf_counter() - started
        step = params.tokenize.encode_batch_docs
        bare_runs, stage_runs = [], []
        for i in range(args.repeat):
            started = time.perf_counter()
            tokens = 0
            for start in range(0, len(texts), step):
                batch = tokenizer.encode_batch(
                    texts[start : start + step], add_special_tokens=False
                )
                tokens += sum(len(e.ids) for e in batch)
            bare_runs.append((time.perf_counter() - started, tokens))
            started = time.perf_counter()
            labels, task = upstream.summary["labels"], task_of(upstream)
            writers = encode_shards(
                tokenizer, labels, task, validated, upstream, ws / f"tokens{i}", params.tokenize
            )
            stage_runs.append(
                (
                    time.perf_counter() - started,
                    sum(w.stats["tokens"] + w.stats["tokens_cut"] for w in writers.values()),
                )
            )
        bare_s, bare_tokens = min(bare_runs)
        stage_s, stage_tokens = min(stage_runs)
        docs = len(texts)
        print(f"{docs:,} validated IMDB documents, {bare_tokens:,} tokens before truncation")
        print(
            f"tokenizer training ({params.tokenize.model}, vocab {params.tokenize.vocab_size}): "
            f"{train_s:.1f} s"
        )
        for name, seconds, count in (
            ("bare encode_batch", bare_s, bare_tokens),
            ("stage encode pass", stage_s, stage_tokens),
        ):
            print(f"{name}: {docs / seconds:9,.0f} docs/s {count / seconds:12,.0f} tokens/s")
        print(f"ratio stage/bare:  {bare_s / stage_s:.2f}  (goal >= 0.80)")
        started = time.perf_counter()
        result = tokenize_corpus(params.tokenize, validated, ws / "tokens")
        whole_s = time.perf_counter() - started
        print(
            f"whole stage (train tokenizer + encode + manifest): {whole_s:.1f} s, "
            f"{result.documents:,} documents in {result.shards} shards, "
            f"{result.truncated:,} truncated at {params.tokenize.max_tokens} tokens"
        )


if __name__ == "__main__":
    main()
