"""Language-model pretraining then fine-tuning, against the same classifier from scratch.

Both runs train the params profile's classifier exactly as the train stage
does (`benchmarks.imdb_accuracy.train_and_test`) on the tokens folder's
train split (val carved from train) and score its test split. The second
first runs the pretrain stage (`tasks.pretrain.pretrain_encoder`) on the
train split plus the `unlabelled` split (aclImdb's `unsup`: 75k reviews in
all) and starts the classifier's embedding and RNN from that encoder. It
prints both test accuracies, the held-out perplexity before and after
pretraining, and every time. The issue's goal: >= 0.93 on IMDB.

    .venv/bin/python -m benchmarks.pretrain --tokens WORKSPACE/data/tokens \\
        [--params profiles/imdb.yaml] [--set pretrain.epochs=3 ...] [--json out.json]

Tokenize IMDB with the unlabelled reviews as a source of their own
(`ingest.source` with `root: aclImdb/train/unsup`, `layout: files`), so the
tokens folder has the `unlabelled` split. Needs only the tokens folder: no
MLflow, no Prefect server.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.imdb_accuracy import train_and_test
from doclstm.params import load_params
from tasks.pretrain import pretrain_encoder

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.93


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / "profiles/imdb.yaml")
    parser.add_argument("--tokens", type=Path, required=True, help="a tokens stage folder")
    parser.add_argument("--set", "-s", action="append", default=[], help="param override")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    params = load_params(args.params, [*args.set, "pretrain.enabled=true"])

    out: dict[str, Any] = {"overrides": args.set}
    scratch = train_and_test(params, args.tokens, args.set)
    out["scratch"] = _summary(scratch)
    with tempfile.TemporaryDirectory(prefix="doclstm-pretrain-") as tmp:
        started = time.perf_counter()
        encoder = pretrain_encoder(
            params.pretrain, params.train, params.base.seed, args.tokens, Path(tmp) / "encoder"
        )
        out["pretrain_seconds"] = time.perf_counter() - started
        out["held_out_perplexity"] = [encoder.initial_perplexity, encoder.val_perplexity]
        history = json.loads((Path(tmp) / "encoder/history.json").read_text())
        out["pretrain_perplexity_by_epoch"] = [round(r["val_perplexity"], 2) for r in history]
        tuned = train_and_test(params, args.tokens, args.set, encoder_dir=encoder.encoder_dir)
    out["pretrained"] = _summary(tuned)
    out["device"] = tuned.device

    print(
        f"\npretraining: held-out perplexity {out['held_out_perplexity'][0]:.1f} untrained -> "
        f"{out['held_out_perplexity'][1]:.1f} (by epoch {out['pretrain_perplexity_by_epoch']}) "
        f"in {out['pretrain_seconds']:.0f} s on {tuned.device}"
    )
    for name in ("scratch", "pretrained"):
        run = out[name]
        print(
            f"{name:>10}: test accuracy {run['test_accuracy']:.4f}, best epoch "
            f"{run['best_epoch']}/{run['epochs_run']}, trained in {run['train_seconds']:.0f} s"
        )
    gain = out["pretrained"]["test_accuracy"] - out["scratch"]["test_accuracy"]
    print(f"pretrained - scratch: {gain:+.4f}  (goal: pretrained >= {TARGET})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def _summary(run: Any) -> dict[str, Any]:
    return {
        "test_accuracy": float((run.probabilities.argmax(1) == run.test.label_ids).mean()),
        "best_epoch": run.fit.best_epoch,
        "epochs_run": len(run.fit.history),
        "train_seconds": run.seconds,
        "test_documents": len(run.test),
        "val_accuracy_by_epoch": [round(r["val_accuracy"], 4) for r in run.fit.history],
        "mean_test_tokens": float(np.mean(run.test.lengths)),
    }


if __name__ == "__main__":
    main()
