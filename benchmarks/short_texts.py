"""Training throughput on short texts against long documents: same model, same CPU, one run.

A step of the trainer has a fixed cost (the optimizer over the whole
embedding, the loader, the kernel launches of every time step) on top of
the cost of its tokens, so a batch must hold enough tokens to amortize it.
This trains the classifier of a params file on about as many tokens of two
tokens folders, one of long documents and one of short texts, with the
trainer's own sampler and step (benchmarks/train_throughput.py's `built`),
and prints real (unpadded) tokens/s for:

- long:         the long documents, with the params as given;
- short:        the short texts, with the params as given;
- short, capped: the short texts with `train.max_batch_size` at `--old-cap`
                (32, the previous default: a short-text step is then a few
                hundred tokens).

Ratios printed: short / long (target >= 0.8) and short / short-capped.

    .venv/bin/python -m benchmarks.short_texts --long W1/data/tokens --short W2/data/tokens

Tokens folders: any two tokenize stage outputs (e.g. the workspaces that
benchmarks/quality.py leaves with --work: bbcnews and tweets or sentences).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.train_throughput import built_batches, built_sampler, run
from doclstm.config.params import Params, load_params
from doclstm.models.config import ModelConfig
from doclstm.models.device import pick_device
from doclstm.models.model import SequenceClassifier
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import load_split

REPO = Path(__file__).resolve().parents[1]


def rate(tokens: Path, params: Params, real_tokens: int) -> dict[str, float]:
    """Real tokens/s, padding waste and documents per batch, training on about
    `real_tokens` tokens (after a few warm-up steps)."""
    manifest = StageManifest.load(tokens)
    train = load_split(tokens, "train", manifest)
    device = pick_device(params.train.device)
    config = ModelConfig.for_tokens(manifest.summary, params.train.model)
    batches = built_sampler(train, params).batches()
    documents = sum(len(b) for b in batches) / len(batches)
    per_step = float(train.lengths.sum()) / len(batches)
    torch.manual_seed(params.base.seed)
    model = SequenceClassifier(config).to(device).train()
    steps = max(int(real_tokens / per_step), 8)
    tokens_per_s, waste = run(
        model, model, built_batches(train, params, device), params, train.label_ids, steps, device
    )
    return {
        "tokens_per_s": tokens_per_s,
        "padding": waste,
        "documents_per_batch": documents,
        "mean_length": float(train.lengths.mean()),
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--long", type=Path, required=True, help="tokens of long documents")
    parser.add_argument("--short", type=Path, required=True, help="tokens of short texts")
    parser.add_argument("--old-cap", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=600_000, help="real tokens timed each")
    parser.add_argument("--set", "-s", action="append", default=[], help="param override")
    args = parser.parse_args()
    params = load_params(args.params, args.set)
    capped = load_params(args.params, [*args.set, f"train.max_batch_size={args.old_cap}"])
    print(f"{torch.get_num_threads()} threads; {params.train.model}")
    results = {}
    for name, tokens, setting in (
        ("long", args.long, params),
        ("short", args.short, params),
        ("short, capped", args.short, capped),
    ):
        r = results[name] = rate(tokens, setting, args.tokens)
        print(
            f"{name:>14}: {r['tokens_per_s']:>9,.0f} real tokens/s  padding "
            f"{100 * r['padding']:4.1f}%  {r['documents_per_batch']:.0f} documents a batch "
            f"(mean length {r['mean_length']:.0f}), {r['steps']} steps"
        )
    short, long_, old = (results[k]["tokens_per_s"] for k in ("short", "long", "short, capped"))
    print(f"short / long: {short / long_:.2f}  (target >= 0.8)")
    print(f"short / short capped at {args.old_cap}: {short / old:.2f}")


if __name__ == "__main__":
    main()
