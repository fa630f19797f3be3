"""Training throughput: the trainer as built against the tutorial baseline, same model, same run.

Trains the classifier of a params profile for a fixed number of optimizer
steps three ways, from the same initial weights, and prints real
(unpadded) tokens/s for each:

- built:    the trainer's own pieces: BucketBatchSampler (token budget,
            length buckets), the DataLoader with `train.loader_workers`
            workers, `Optimization.step` (the model's exact RNN path, picked
            by `model.rnn_path`);
- naive:    the common tutorial: random batches of `max_batch_size`
            documents padded to the longest, `nn.LSTM` run over the padding
            (no packing), the same pooling taken over every column;
- ideal:    batches whose documents all have the same length (the mean),
            as many as the same token budget holds: no padding at all, the
            ceiling for any batching scheme (the GPU target compares to it).

Ratios printed: built / naive (target >= 2.5 on CPU for IMDB) and built /
ideal (target >= 0.85 on a GPU). The first steps of each are warm-up and not
timed.

    .venv/bin/python -m benchmarks.train_throughput --tokens /path/to/data/tokens
    .venv/bin/python -m benchmarks.train_throughput   # builds IMDB tokens first (~2 min)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from benchmarks.arguments import IMDB_ARCHIVE
from doclstm.config.params import Params, load_params
from doclstm.models.config import ModelConfig
from doclstm.models.device import pick_device
from doclstm.models.model import SequenceClassifier
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import TokenSplit, load_split
from doclstm.tasks.table import run_stage
from doclstm.text.batching import BucketBatchSampler, batch_loader, pad_batch
from doclstm.training.objectives import ClassifierObjective
from doclstm.training.optimization import Optimization
from doclstm.training.trainer import train_sampler

REPO = Path(__file__).resolve().parents[1]
WARMUP = 3
Batch = tuple[torch.Tensor, ...]  # ids, lengths, labels[, teacher logits]


def build_tokens(params_file: Path, archive: Path, workspace: Path) -> Path:
    params = load_params(params_file, [f"base.workspace={workspace}", f"ingest.source={archive}"])
    for stage in ("ingest", "validate", "tokenize"):
        run_stage(stage, params)
    return workspace / "data/tokens"


def built_sampler(train: TokenSplit, params: Params) -> BucketBatchSampler:
    """The trainer's sampler for `train` (doclstm.training.trainer.fit, one process)."""
    return train_sampler(train, params.train, params.base.seed, params.train.model.rnn_tokens)


def built_batches(train: TokenSplit, params: Params, device: torch.device) -> Iterator[Batch]:
    sampler = built_sampler(train, params)
    loader = batch_loader(train, sampler, params.train.loader_workers, device, 0)
    while True:
        yield from loader
        sampler.set_epoch(sampler.epoch + 1)


def naive_batches(train: TokenSplit, params: Params) -> Iterator[Batch]:
    rng = np.random.default_rng(params.base.seed)
    size = params.train.max_batch_size
    while True:
        order = rng.permutation(len(train))
        for start in range(0, len(order) - size + 1, size):
            batch = order[start : start + size]
            ids, lengths = pad_batch([train.sequence(i) for i in batch])
            yield ids, lengths, torch.from_numpy(train.label_ids[batch])


def ideal_batches(train: TokenSplit, params: Params) -> Iterator[Batch]:
    rng = np.random.default_rng(params.base.seed)
    length = max(round(float(train.lengths.mean())), 1)
    size = max(min(params.train.batch_tokens // length, params.train.max_batch_size), 1)
    vocab = int(train.tokens.max()) + 1
    while True:
        ids = torch.from_numpy(rng.integers(2, vocab, size=(size, length)))
        labels = torch.from_numpy(rng.integers(0, 2, size=size))
        yield ids, torch.full((size,), length, dtype=torch.long), labels


class TutorialForward(torch.nn.Module):
    """The tutorial model on the same weights: the RNN runs over the pads, pooling sees them."""

    def __init__(self, model: SequenceClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        m = self.model
        steps, _ = m.rnn(m.dropout(m.embedding(ids)))
        if m.config.pooling == "max":
            summary = steps.amax(1)
        elif m.config.pooling == "mean":
            summary = steps.mean(1)
        else:
            summary = steps[:, -1]
        return torch.as_tensor(m.head(m.dropout(summary)))


def run(
    model: SequenceClassifier,
    net: torch.nn.Module,
    batches: Iterator[Batch],
    params: Params,
    labels: np.ndarray,
    steps: int,
    device: torch.device,
) -> tuple[float, float]:
    """Real tokens/s and padded tokens / real tokens over `steps` timed steps."""
    one_epoch = params.train.model_copy(update={"epochs": 1})  # the schedule spans the run
    names = [str(i) for i in range(model.config.num_labels)]
    objective = ClassifierObjective.build(
        model.config.num_outputs, names, params.train, labels, device
    )
    opt = Optimization.build(model, net, one_epoch, objective, steps + WARMUP, device)
    real = padded = 0
    started = 0.0
    for step in range(steps + WARMUP):
        ids, lengths, label_ids = next(batches)[:3]
        if step == WARMUP:
            _sync(device)
            started, real, padded = time.perf_counter(), 0, 0
        opt.step(ids.to(device, non_blocking=True), lengths, label_ids.to(device))
        real += int(lengths.sum())
        padded += ids.numel()
    _sync(device)
    return real / (time.perf_counter() - started), (padded - real) / real


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / "profiles/imdb.yaml")
    parser.add_argument("--tokens", type=Path, help="a tokens folder; else IMDB is tokenized")
    parser.add_argument("--archive", type=Path, default=IMDB_ARCHIVE)
    parser.add_argument(
        "--steps",
        type=int,
        help="timed steps each (default 40 on CPU; 400 on a GPU, where fewer steps time "
        "first-seen batch shapes more than the steady state)",
    )
    parser.add_argument("--set", "-s", action="append", default=[], help="param override")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="doclstm-throughput-") as tmp:
        tokens = args.tokens or build_tokens(args.params, args.archive.resolve(), Path(tmp))
        params = load_params(args.params, args.set)
        manifest = StageManifest.load(tokens)
        train = load_split(tokens, "train", manifest)
        device = pick_device(params.train.device)
        steps = args.steps or (400 if device.type == "cuda" else 40)
        config = ModelConfig.for_tokens(manifest.summary, params.train.model)
        print(
            f"{len(train):,} train documents, mean length {train.lengths.mean():.0f}, "
            f"max {train.lengths.max()}; {config.cell} bidirectional={config.bidirectional} "
            f"embedding {config.embedding_dim} hidden {config.hidden_size} pooling "
            f"{config.pooling}; {steps} timed steps each on {device}, "
            f"{torch.get_num_threads()} threads"
        )
        results = {}
        for name in ("built", "naive", "ideal"):
            torch.manual_seed(params.base.seed)
            model = SequenceClassifier(config).to(device).train()
            net = TutorialForward(model) if name == "naive" else model
            batches = {
                "built": lambda: built_batches(train, params, device),
                "naive": lambda: naive_batches(train, params),
                "ideal": lambda: ideal_batches(train, params),
            }[name]()
            results[name] = run(model, net, batches, params, train.label_ids, steps, device)
            rate, waste = results[name]
            print(f"{name:>6}: {rate:>10,.0f} real tokens/s   padding {100 * waste:5.1f}%")
        built = results["built"][0]
        print(f"built / naive: {built / results['naive'][0]:.2f}  (target >= 2.5 on CPU)")
        print(f"built / ideal: {built / results['ideal'][0]:.2f}  (target >= 0.85 on a GPU)")


if __name__ == "__main__":
    main()
