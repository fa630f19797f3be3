"""bf16 against fp32, in one run: training speed, accuracy, scoring speed and agreement.

On CPUs with bf16 hardware (AMX or AVX512-BF16: Xeon from Sapphire Rapids,
AMD from Zen 4) oneDNN runs the LSTM in bf16 under autocast; elsewhere torch
emulates it, slower than fp32. Four measurements, fp32 first, each pair
from the same initial weights:

1. training throughput: `Optimization.step` on the trainer's own batches
   (benchmarks/train_throughput.py's "built"), `--steps` timed steps each;
2. accuracy: the profile's classifier trained as the train stage does
   (`train.precision` fp32, then bf16) and tested on the test split;
3. scoring: the fp32-trained model's test-split probabilities in fp32 and
   in bf16 (`predict_probabilities`, as `score.precision` runs it), best
   of 2 passes each: documents/s, labels changed, probability gaps;
4. the test accuracy of each scoring.

    .venv/bin/python -m benchmarks.precision --tokens WORKSPACE/data/tokens \\
        [--params params.yaml] [--set train.epochs=2 ...] [--steps 20] [--steps-only]

`WORKSPACE` is any workspace the tokenize stage has run in (`make run`'s
`.` for the built-in corpus).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.arguments import tokens_parser
from benchmarks.imdb_accuracy import TrainedRun, train_and_test
from benchmarks.train_throughput import built_batches, run
from doclstm.config.params import Params, load_params
from doclstm.models.config import ModelConfig
from doclstm.models.device import native_bf16, pick_device
from doclstm.models.inference import predict_probabilities
from doclstm.models.model import SequenceClassifier
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import load_split

PRECISIONS = ("fp32", "bf16")


def main() -> None:
    parser = tokens_parser(__doc__, params="params.yaml")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps each")
    parser.add_argument(
        "--steps-only", action="store_true", help="only the training steps (1.), no training"
    )
    args = parser.parse_args()
    base = load_params(args.params, args.set)
    device = pick_device(base.train.device)
    print(
        f"{device}, {torch.get_num_threads()} threads, bf16 hardware: {native_bf16(device)}; "
        f"overrides {args.set or 'none'}"
    )

    rates = {p: training_rate(_at(base, p), args.tokens, args.steps, device) for p in PRECISIONS}
    for name, rate in rates.items():
        print(f"train step {name}: {rate:>9,.0f} real tokens/s")
    print(f"train step bf16 / fp32: {rates['bf16'] / rates['fp32']:.2f}")
    if args.steps_only:
        return

    runs = {p: train_and_test(_at(base, p), args.tokens, args.set) for p in PRECISIONS}
    for name, trained in runs.items():
        print(
            f"trained in {name}: test accuracy {_accuracy(trained, trained.probabilities):.4f}, "
            f"best epoch {trained.fit.best_epoch}/{len(trained.fit.history)}, "
            f"{trained.seconds:.0f} s"
        )
    print(f"training time bf16 / fp32: {runs['bf16'].seconds / runs['fp32'].seconds:.2f}")

    reference = runs["fp32"]
    scored = {p: score(reference, base, p, device) for p in PRECISIONS}
    p32, p16 = (scored[p][0] for p in PRECISIONS)
    changed = int((p16.argmax(1) != p32.argmax(1)).sum())
    for name, (probs, rate) in scored.items():
        print(
            f"scored in {name}: {rate:>9,.0f} documents/s, test accuracy "
            f"{_accuracy(reference, probs):.4f}"
        )
    gap = np.abs(p16 - p32).max(1)
    print(
        f"scoring bf16 / fp32: {scored['bf16'][1] / scored['fp32'][1]:.2f}; labels changed: "
        f"{changed} of {len(p32):,}; probability gap: median {np.median(gap):.4f}, "
        f"99th percentile {np.quantile(gap, 0.99):.4f}, largest {gap.max():.4f}"
    )


def training_rate(params: Params, tokens: Path, steps: int, device: torch.device) -> float:
    """Real tokens/s of the trainer's step on its own batches, after the warm-up steps."""
    manifest = StageManifest.load(tokens)
    train = load_split(tokens, "train", manifest)
    torch.manual_seed(params.base.seed)
    config = ModelConfig.for_tokens(manifest.summary, params.train.model)
    model = SequenceClassifier(config).to(device).train()
    batches = built_batches(train, params, device)
    rate, _ = run(model, model, batches, params, train.label_ids, steps, device)
    return rate


def score(
    trained: TrainedRun, params: Params, precision: str, device: torch.device
) -> tuple[np.ndarray, float]:
    """The test split's probabilities from the best weights, and documents/s (best of 2)."""
    model = trained.model.to(device)
    best = 0.0
    for _ in range(2):
        started = time.perf_counter()
        probs = predict_probabilities(
            model,
            trained.test.sequences,
            params.score.batch_tokens,
            device,
            precision=precision,
        )
        best = max(best, len(probs) / (time.perf_counter() - started))
    return probs, best


def _at(params: Params, precision: str) -> Params:
    train = params.train.model_copy(update={"precision": precision})
    return params.model_copy(update={"train": train})


def _accuracy(trained: TrainedRun, probs: np.ndarray) -> float:
    return float((probs.argmax(1) == trained.test.label_ids).mean())


if __name__ == "__main__":
    main()
