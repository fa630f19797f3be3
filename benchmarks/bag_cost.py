"""What the token bag costs at scoring: the model's predictions with and without it.

Input: a trained model folder with a bag (`train.model.bag_buckets` > 0) and
a tokens folder; the split's documents are scored by
`doclstm.models.inference.predict_probabilities`, as evaluate and score call it,
once with the whole model and once with the same model's RNN alone (the bag
taken out), alternating `--rounds` times; the best round of each is kept.
Prints documents/s of both and the ratio with / without (the goal: >= 0.9).

    .venv/bin/python -m benchmarks.bag_cost --model models/main --tokens data/tokens
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np

from doclstm.models.inference import predict_probabilities
from doclstm.models.model import SequenceClassifier
from doclstm.models.model_folder import load_model_dir
from doclstm.storage.token_data import load_split


def documents_per_second(
    model: SequenceClassifier, sequences: list[np.ndarray], batch_tokens: int
) -> float:
    started = time.perf_counter()
    predict_probabilities(model, sequences, batch_tokens)
    return len(sequences) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-tokens", type=int, default=16384)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    model = load_model_dir(args.model).model.eval()
    if model.bag is None:
        parser.error(f"{args.model} has no token bag (train.model.bag_buckets 0)")
    rnn_alone = copy.deepcopy(model)
    rnn_alone.bag = None
    sequences = load_split(args.tokens, args.split).sequences
    tokens = sum(len(s) for s in sequences)
    with_bag = without = 0.0
    for _ in range(args.rounds):  # alternated, so that a drift in machine speed hits both
        with_bag = max(with_bag, documents_per_second(model, sequences, args.batch_tokens))
        without = max(without, documents_per_second(rnn_alone, sequences, args.batch_tokens))
    print(f"{len(sequences)} documents, {tokens} tokens ({args.split})")
    print(f"with the bag    {with_bag:9.1f} documents/s")
    print(f"RNN alone       {without:9.1f} documents/s")
    print(f"ratio with / without: {with_bag / without:.3f} (goal >= 0.9)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
