"""Flat against hierarchical, same data and training budget: test accuracy by length bucket.

Trains the params file's classifier twice on one tokens folder, once flat
(`train.model.kind: flat`) and once hierarchical (windows of
`train.model.chunk_tokens` every `chunk_stride`, a document RNN over the
window vectors), with the same embedding, RNN width, epochs, schedule, batch
budget and seed; then scores the test split with each best epoch and prints
accuracy in the test split's length quartiles side by side, the longest
quarter last. Tokenize without a low cap (`tokenize.max_tokens` high,
`truncation: none`) so that long documents are long.

    .venv/bin/python -m benchmarks.hierarchical --tokens <workspace>/data/tokens \\
        [--params params.yaml] [--set train.epochs=6 ...]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from benchmarks.imdb_accuracy import train_and_test
from doclstm.metrics import accuracy_by_length
from doclstm.model import ModelConfig, documents_over_max_chunks
from doclstm.params import load_params

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--tokens", type=Path, required=True, help="a tokens stage folder")
    parser.add_argument("--set", "-s", action="append", default=[], help="param override")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    runs = {}
    for kind in ("flat", "hierarchical"):
        overrides = [*args.set, f"train.model.kind={kind}"]
        runs[kind] = train_and_test(load_params(args.params, overrides), args.tokens, overrides)
    test = runs["flat"].test
    buckets = {  # the evaluate stage's length quartiles, same test split for both
        k: accuracy_by_length(test.label_ids, r.probabilities, test.lengths)
        for k, r in runs.items()
    }
    print(f"\n{'test documents (tokens)':>28} {'n':>6} {'flat':>8} {'hierarchical':>13}")
    for i, (flat, hier) in enumerate(zip(buckets["flat"], buckets["hierarchical"], strict=True)):
        label = f"quartile {i + 1}: {flat['min_tokens']}-{flat['max_tokens']}"
        print(
            f"{label:>28} {flat['documents']:>6} {flat['accuracy']:>8.4f} {hier['accuracy']:>13.4f}"
        )
    overall = {k: _accuracy(r.probabilities, test.label_ids) for k, r in runs.items()}
    print(f"{'all':>28} {len(test):>6} {overall['flat']:>8.4f} {overall['hierarchical']:>13.4f}")
    for kind, run in runs.items():
        best = run.fit.best_epoch
        print(f"{kind}: {run.seconds:.0f} s training, best epoch {best} of {len(run.fit.history)}")
    params = load_params(args.params, [*args.set, "train.model.kind=hierarchical"])
    config = ModelConfig(vocab_size=1, num_labels=2, **params.train.model.model_dump())
    cut = documents_over_max_chunks(config, test.lengths)
    print(f"hierarchical: {cut} test documents over max_chunks {config.max_chunks}")


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(1) == labels).mean())


if __name__ == "__main__":
    main()
