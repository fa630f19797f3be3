"""Test accuracy of a params profile on IMDB, against a TF-IDF baseline trained in the same run.

Trains the classifier exactly as the train stage does (`doclstm.training.trainer.fit`:
bucketed batches, packed sequences, the profile's schedule, early stopping
and best-epoch selection on the val split carved from train), then scores the
test split with the best epoch's weights. Baseline, same run, same tokens:
TF-IDF over token-id unigrams and bigrams with logistic regression (the
classic strong linear baseline on IMDB; 0.906 on words per the issue).

    .venv/bin/python -m benchmarks.imdb_accuracy --tokens WORKSPACE/data/tokens
    .venv/bin/python -m benchmarks.imdb_accuracy --tokens T --set train.epochs=8 --json out.json

It needs only the tokens folder (train, val and test shards, manifest,
tokenizer), so a GPU machine without the pipeline's servers can run it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.arguments import tokens_parser
from doclstm.config.params import Params, load_params
from doclstm.evaluation.metrics import classification_metrics
from doclstm.models.config import ModelConfig
from doclstm.models.device import pick_device
from doclstm.models.encoder_file import load_encoder
from doclstm.models.inference import predict_probabilities
from doclstm.models.model import SequenceClassifier
from doclstm.models.window_encoder import MiniLMWindows
from doclstm.sources.splits import unit_hash
from doclstm.storage.manifest import StageManifest, stage_fingerprint
from doclstm.storage.token_data import TokenSplit, load_split
from doclstm.text.tokenizer import TOKENIZER_FILE, load_tokenizer
from doclstm.training.trainer import FitResult, fit
from doclstm.training.window_cache import window_cache

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.91


def tfidf_baseline(train: TokenSplit, test: TokenSplit) -> tuple[float, float]:
    """Accuracy and seconds of TF-IDF (token-id uni+bigrams) + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()

    def text(split: TokenSplit) -> list[str]:
        return [" ".join(map(str, s.tolist())) for s in split.sequences]

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"\d+"
    )
    x_train = vectorizer.fit_transform(text(train))
    classifier = LogisticRegression(C=4.0, max_iter=2000).fit(x_train, train.label_ids)
    predicted = classifier.predict(vectorizer.transform(text(test)))
    return float((predicted == test.label_ids).mean()), time.perf_counter() - started


@dataclass(frozen=True)
class TrainedRun:
    train: TokenSplit
    test: TokenSplit
    labels: list[str]
    fit: FitResult
    seconds: float
    probabilities: np.ndarray  # test split, best epoch's weights
    device: str
    model: SequenceClassifier  # with the best epoch's weights


def train_and_test(
    params: Params,
    tokens: Path,
    overrides: list[str],
    encoder_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    labelled_fraction: float = 1.0,
) -> TrainedRun:
    """Train as the train stage does (from the pretrained encoder in `encoder_dir`, if
    given), then score the test split with the best weights. With `checkpoint_dir`, a run
    killed part way carries on from its last checkpoint there, as the train stage does.
    `labelled_fraction` < 1 trains on that share of the train split (fixed by a hash of
    each doc_id), as when only a few of an archive's documents are labelled."""
    manifest = StageManifest.load(tokens)
    labels: list[str] = manifest.summary["labels"]
    train, val, test = (load_split(tokens, s, manifest) for s in ("train", "val", "test"))
    if labelled_fraction < 1.0:
        kept = [unit_hash(d, "labelled") < labelled_fraction for d in train.doc_ids]
        train = train.subset(np.flatnonzero(kept))
    device = pick_device(params.train.device)
    config = ModelConfig.for_tokens(manifest.summary, params.train.model)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"{len(train):,} train / {len(val):,} val / {len(test):,} test documents on {name}, "
        f"{torch.get_num_threads()} threads; overrides {overrides or 'none'}",
        flush=True,
    )
    torch.manual_seed(params.base.seed)
    model = SequenceClassifier(config)
    if encoder_dir is not None:
        load_encoder(model, config, encoder_dir, manifest.files[TOKENIZER_FILE].sha256)
    if config.chunk_encoder == "minilm":  # as the train stage does: vectors from the cache
        model.window_encoder = MiniLMWindows(load_tokenizer(tokens / TOKENIZER_FILE))
        window_cache(tokens, config, model.window_encoder, device)
    started = time.perf_counter()
    fingerprint = stage_fingerprint(
        "benchmark",
        "doclstm.tasks.train",
        params.train.result_settings(),
        seed=params.base.seed,
        input=manifest.fingerprint,
        labelled_fraction=labelled_fraction,
        encoder=StageManifest.load(encoder_dir).fingerprint if encoder_dir else None,
    )
    result = fit(
        model,
        train,
        val,
        labels,
        params.train,
        params.base.seed,
        device,
        checkpoint_dir=checkpoint_dir,
        fingerprint=fingerprint,
    )
    seconds = time.perf_counter() - started
    model.load_state_dict(result.best_state)
    probs = predict_probabilities(model, test.sequences, params.evaluate.batch_tokens, device)
    return TrainedRun(train, test, labels, result, seconds, probs, name, model)


def main() -> None:
    parser = tokens_parser(__doc__)
    parser.add_argument("--no-baseline", action="store_true", help="skip TF-IDF")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    params = load_params(args.params, args.set)
    run = train_and_test(params, args.tokens, args.set)
    result, test = run.fit, run.test
    metrics = classification_metrics(
        test.label_ids, run.probabilities, run.labels, bootstrap_samples=200
    )
    best = result.history[result.best_epoch - 1]
    out: dict[str, Any] = {
        "device": run.device,
        "overrides": args.set,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "val_accuracy": best["val_accuracy"],
        "test_accuracy": metrics["accuracy"],
        "test_accuracy_95": metrics["intervals_95"]["accuracy"],
        "test_documents": len(test),
        "train_seconds": run.seconds,
        "epoch_seconds": [round(r["seconds"], 1) for r in result.history],
        "val_accuracy_by_epoch": [round(r["val_accuracy"], 4) for r in result.history],
    }
    print(
        f"doclstm: test accuracy {out['test_accuracy']:.4f} "
        f"(95% {out['test_accuracy_95'][0]:.4f}-{out['test_accuracy_95'][1]:.4f}), "
        f"val {out['val_accuracy']:.4f}, best epoch {out['best_epoch']}/{out['epochs_run']}, "
        f"trained in {run.seconds:.0f} s; epochs {out['epoch_seconds']} s",
        flush=True,
    )
    if not args.no_baseline:
        accuracy, seconds = tfidf_baseline(run.train, test)
        out["tfidf_accuracy"], out["tfidf_seconds"] = accuracy, seconds
        print(f"TF-IDF uni+bigram LR: test accuracy {accuracy:.4f} ({seconds:.0f} s)")
        print(f"doclstm - TF-IDF: {out['test_accuracy'] - accuracy:+.4f}")
    print(f"target >= {TARGET}: {'met' if out['test_accuracy'] >= TARGET else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
