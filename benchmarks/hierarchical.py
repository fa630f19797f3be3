"""Flat against hierarchical, same data and training budget: test accuracy by length bucket.

Trains the params file's classifier on one tokens folder once flat
(`train.model.kind: flat`), once hierarchical (windows of
`train.model.chunk_tokens` every `chunk_stride`, a document RNN over the
window vectors) with the recurrent window encoder, and, with `--variants
flat,hierarchical,minilm`, once more with the frozen MiniLM window encoder
(its window vectors cached in `data/windows/` beside the tokens, so a
second run skips MiniLM), all with the same epochs, schedule, batch budget
and seed; then scores the test split with each best epoch and prints
accuracy in the test split's length quartiles side by side, the longest
quarter last. Tokenize without a low cap (`tokenize.max_tokens` high,
`truncation: none`) so that long documents are long.

    .venv/bin/python -m benchmarks.hierarchical --tokens <workspace>/data/tokens \\
        [--params params.yaml] [--set train.epochs=6 ...] [--variants flat,minilm]
"""

from __future__ import annotations

import logging

import numpy as np

from benchmarks.arguments import tokens_parser
from benchmarks.imdb_accuracy import train_and_test
from doclstm.config.params import load_params
from doclstm.evaluation.metrics import accuracy_by_length
from doclstm.models.config import ModelConfig
from doclstm.models.cuts import documents_over_max_chunks


def main() -> None:
    parser = tokens_parser(__doc__, "params.yaml")
    parser.add_argument(
        "--variants",
        default="flat,hierarchical",
        help="comma-separated, of flat, hierarchical (recurrent window encoder), minilm",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    variants = {
        "flat": ["train.model.kind=flat"],
        "hierarchical": ["train.model.kind=hierarchical"],
        "minilm": ["train.model.kind=hierarchical", "train.model.chunk_encoder=minilm"],
    }
    runs = {}
    for name in args.variants.split(","):
        overrides = [*args.set, *variants[name]]
        runs[name] = train_and_test(load_params(args.params, overrides), args.tokens, overrides)
    test = next(iter(runs.values())).test
    buckets = {  # the evaluate stage's length quartiles, same test split for all
        k: accuracy_by_length(test.label_ids, r.probabilities, test.lengths)
        for k, r in runs.items()
    }
    print(f"\n{'test documents (tokens)':>28} {'n':>6}" + "".join(f" {k:>13}" for k in runs))
    for i, first in enumerate(next(iter(buckets.values()))):
        label = f"quartile {i + 1}: {first['min_tokens']}-{first['max_tokens']}"
        cells = "".join(f" {buckets[k][i]['accuracy']:>13.4f}" for k in runs)
        print(f"{label:>28} {first['documents']:>6}{cells}")
    overall = "".join(
        f" {_accuracy(r.probabilities, test.label_ids):>13.4f}" for r in runs.values()
    )
    print(f"{'all':>28} {len(test):>6}{overall}")
    for kind, run in runs.items():
        best = run.fit.best_epoch
        print(f"{kind}: {run.seconds:.0f} s training, best epoch {best} of {len(run.fit.history)}")
    params = load_params(args.params, [*args.set, "train.model.kind=hierarchical"])
    config = ModelConfig.build(1, 2, params.train.model)
    cut = documents_over_max_chunks(config, test.lengths)
    print(f"hierarchical: {cut} test documents over max_chunks {config.max_chunks}")


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(1) == labels).mean())


if __name__ == "__main__":
    main()
