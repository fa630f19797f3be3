"""Bulk scoring end to end against the model's forward pass alone, and memory at 1x and 4x.

Input: the 50,000 unlabelled IMDB reviews (`aclImdb/train/unsup`), read
straight from the archive (the archive's other members are refused as
outside that root, each with a row saying so). End to end is the score
stage: read and decode, tokenize, batch by length, forward, write Parquet
shards and completion markers. Baseline, in the same run: the same model's
forward pass alone over the same documents, tokenized, truncated and padded
into the same length-bucketed batches beforehand, timed once before and
once after the end-to-end run (the mean is the baseline: this shared
machine's speed drifts between minutes). Both print documents/s; the ratio
is end to end / forward alone. The goal is >= 0.8.

`--rss` also writes the unlabelled reviews once and four times over as
.tar.gz files, scores each in a fresh process and prints both peak RSS
figures: memory must not grow with the archive (goal: 4x within 15% of 1x).

    .venv/bin/python -m benchmarks.score --model models/main [--archive ...] [--rss]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.arguments import IMDB_ARCHIVE
from benchmarks.ingest import _own_peak_kib, copies
from doclstm.config.params import ScoreParams, SourceParams
from doclstm.models.loss import probabilities
from doclstm.models.model_folder import load_model_dir
from doclstm.scoring.shards import ScoreResult
from doclstm.sources.archive_members import ReadLimits
from doclstm.sources.documents import decode_text
from doclstm.sources.resolve import iter_documents, resolve_source
from doclstm.tasks.score import score_documents
from doclstm.text.batching import BucketBatchSampler, pad_batch
from doclstm.text.tokenizer import UNK_ID, encode_ids, truncate

UNSUP = "aclImdb/train/unsup"


def _source(archive: Path, root: str) -> SourceParams:
    return SourceParams(path=str(archive), root=root, layout="files")


def score_stage(
    source: SourceParams, model: Path, out: Path, batch_tokens: int
) -> tuple[ScoreResult, float]:
    params = ScoreParams(
        input=source, output=out, model=str(model), docs_per_shard=10_000, batch_tokens=batch_tokens
    )
    started = time.perf_counter()
    result = score_documents(params, "", out, out / "model_cache")
    return result, time.perf_counter() - started


def prepared_batches(
    source: SourceParams, model_dir: Path, batch_tokens: int
) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Documents, and their tokenized, truncated, padded, length-bucketed batches."""
    loaded = load_model_dir(model_dir)
    texts = [
        decode_text(d.data).text
        for d in iter_documents(resolve_source(source, Path(".")), ReadLimits())
        if not d.refused
    ]
    ids = [
        np.asarray(truncate(x, loaded.max_tokens, loaded.truncation) or [UNK_ID], dtype=np.int64)
        for x in encode_ids(loaded.tokenizer, texts)
    ]
    sampler = BucketBatchSampler([len(x) for x in ids], batch_tokens, 512, seed=0, shuffle=False)
    return len(texts), [pad_batch([ids[i] for i in batch]) for batch in sampler.batches()]


def forward_alone(model_dir: Path, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Seconds for the forward passes only, everything else done before."""
    model = load_model_dir(model_dir).model.eval()
    started = time.perf_counter()
    with torch.inference_mode():
        for tokens, lengths in batches:
            probabilities(model(tokens, lengths)).numpy()
    return time.perf_counter() - started


def peak_rss(archive: Path, model: Path, out: Path, batch_tokens: int) -> dict[str, float]:
    command = [
        *(sys.executable, "-m", "benchmarks.score", "--measure"),
        *(str(archive), str(model), str(out), str(batch_tokens)),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _measure(archive: Path, model: Path, out: Path, batch_tokens: int) -> None:
    result, seconds = score_stage(_source(archive, UNSUP), model, out, batch_tokens)
    scored = result.documents - result.unscored
    print(json.dumps({"scored": scored, "seconds": seconds, "mib": _own_peak_kib() / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=IMDB_ARCHIVE)
    parser.add_argument("--model", type=Path, default=Path("models/main"), help="model folder")
    parser.add_argument("--batch-tokens", type=int, default=65_536)
    parser.add_argument("--rss", action="store_true", help="also compare peak memory, 1x vs 4x")
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        archive, model, out, batch_tokens = args.measure
        _measure(Path(archive), Path(model), Path(out), int(batch_tokens))
        return
    archive, model = args.archive.resolve(), args.model.resolve()
    if not archive.is_file():
        sys.exit(f"{archive}: not found; pass --archive PATH")
    print(f"torch threads {torch.get_num_threads()}, model {model}")
    with tempfile.TemporaryDirectory(prefix="doclstm-bench-") as tmp:
        source = _source(archive, UNSUP)
        docs, batches = prepared_batches(source, model, args.batch_tokens)
        # Forward alone before and after the end-to-end run: this machine's speed drifts
        # by up to 30% between minutes, and the mean of the two brackets the run.
        before_s = forward_alone(model, batches)
        result, e2e_s = score_stage(source, model, Path(tmp) / "e2e", args.batch_tokens)
        after_s = forward_alone(model, batches)
        forward_s = (before_s + after_s) / 2
        scored = result.documents - result.unscored
        assert docs == scored, (docs, scored)
        print(
            f"end to end (score stage): {scored:,} scored ({result.unscored:,} other members "
            f"refused) in {e2e_s:.1f} s = {scored / e2e_s:,.0f} docs/s; "
            f"{result.truncated:,} truncated, {result.windowed:,} windowed"
        )
        rate = docs / forward_s
        print(
            f"forward pass alone:       {docs:,} in {forward_s:.1f} s = {rate:,.0f} docs/s "
            f"(mean of {before_s:.1f} s before and {after_s:.1f} s after)"
        )
        print(f"ratio end to end / forward alone: {forward_s / e2e_s:.2f}  (goal >= 0.80)")
        if args.rss:
            runs = {}
            for times in (1, 4):
                packed = copies(archive, Path(tmp) / f"{times}x.tar.gz", times, under=UNSUP)
                runs[times] = peak_rss(packed, model, Path(tmp) / f"rss{times}", args.batch_tokens)
                run = runs[times]
                print(
                    f"peak RSS {times}x: {run['scored']:,} documents in {run['seconds']:.0f} s, "
                    f"{run['mib']:.0f} MiB"
                )
            print(f"RSS ratio 4x/1x: {runs[4]['mib'] / runs[1]['mib']:.2f}  (goal <= 1.15)")


if __name__ == "__main__":
    main()
