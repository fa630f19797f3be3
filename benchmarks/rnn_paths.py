"""Training throughput of the two exact RNN paths on real document lengths.

Trains the same BiLSTM classifier for a fixed number of steps on the same
length-bucketed batches twice: through `pack_padded_sequence` (packed) and
through the padded-exact path, and prints real tokens/s for both and their
ratio (padded / packed). It first checks that both paths give the same
logits on those batches, so the speed is not bought with a different answer.

Lengths come from the built-in BBC News corpus (words x 1.3, cut at
--max-tokens), the length distribution the default pipeline trains on.

    .venv/bin/python -m benchmarks.rnn_paths [--steps 20] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from doclstm.config.params import SourceParams
from doclstm.models.config import ModelConfig
from doclstm.models.model import SequenceClassifier
from doclstm.sources.archive_members import ReadLimits
from doclstm.sources.resolve import iter_documents, resolve_source
from doclstm.text.batching import BucketBatchSampler, pad_batch


def corpus_lengths(max_tokens: int) -> np.ndarray:
    source = resolve_source(SourceParams(path="builtin:bbcnews"), Path("."))
    words = [len(doc.data.split()) for doc in iter_documents(source, ReadLimits())]
    return np.minimum((np.asarray(words) * 1.3).astype(np.int64), max_tokens).clip(1)


def throughput(model: SequenceClassifier, batches: list[list[np.ndarray]], path: str) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    target = torch.zeros(1, dtype=torch.long)
    tokens, started = 0, 0.0
    for step, seqs in enumerate(batches):
        if step == 1:  # the first step warms up allocators and oneDNN primitives
            started, tokens = time.perf_counter(), 0
        ids, lengths = pad_batch(seqs)
        logits = model(ids, lengths, path=path)
        loss = torch.nn.functional.cross_entropy(logits, target.expand(len(seqs)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tokens += int(lengths.sum())
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--batch-tokens", type=int, default=16_384)
    args = parser.parse_args()

    lengths = corpus_lengths(args.max_tokens)
    rng = np.random.default_rng(0)
    sampler = BucketBatchSampler(lengths, args.batch_tokens, 64, seed=0)
    index_batches = sampler.batches()[: args.steps + 1]
    batches = [[rng.integers(2, 16_000, size=int(lengths[i])) for i in b] for b in index_batches]
    config = ModelConfig.build(16_000, 5, dropout=0.0, bag_buckets=0)

    torch.manual_seed(0)
    model = SequenceClassifier(config).eval()
    with torch.no_grad():
        for seqs in batches[:3]:
            ids, lens = pad_batch(seqs)
            diff = (model(ids, lens, path="packed") - model(ids, lens, path="padded")).abs().max()
            assert float(diff) < 1e-5, f"paths disagree by {float(diff)}"

    results = {}
    for path in ("packed", "padded"):
        torch.manual_seed(0)
        results[path] = throughput(SequenceClassifier(config).train(), batches, path)
    print(
        f"documents: {len(lengths)}, steps: {args.steps}, batch tokens: {args.batch_tokens}, "
        f"padding waste: {sampler.padding_waste(index_batches):.1%}, "
        f"threads: {torch.get_num_threads()}"
    )
    print(f"packed (baseline): {results['packed']:>10,.0f} real tokens/s")
    print(f"padded exact     : {results['padded']:>10,.0f} real tokens/s")
    print(f"ratio padded/packed: {results['padded'] / results['packed']:.2f}x")


if __name__ == "__main__":
    main()
