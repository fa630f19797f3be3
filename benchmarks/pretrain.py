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
        [--params profiles/imdb.yaml] [--set pretrain.epochs=3 ...] [--json out.json] \\
        [--labelled-fraction 0.1] [--work DIR] [--runs scratch|pretrained|scratch,pretrained|""]

With `--work DIR` the encoder, the classifiers' checkpoints and each finished
run's result stay in DIR, so a run that was killed or timed out (a device
call's time limit) carries on where it stopped when started again with the
same arguments, and two processes (`--runs scratch`, `--runs pretrained`) can
share one GPU and one DIR; the comparison is printed once DIR holds both.
`--labelled-fraction` gives both classifiers that share of the train labels
(pretraining still reads all the text), as when few documents are labelled.

The tokens folder is what `profiles/imdb.yaml` makes of the archive (the
`unsup` folder becomes the `unlabelled` split):

    for s in ingest validate tokenize; do .venv/bin/doclstm stage $s \\
        --params profiles/imdb.yaml --set base.workspace=W \\
        --set ingest.source=$PWD/aclImdb_v1.tar.gz; done

Needs only the tokens folder: no MLflow, no Prefect server.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.arguments import tokens_parser
from benchmarks.imdb_accuracy import TrainedRun, train_and_test
from doclstm.config.params import Params, load_params
from doclstm.storage.atomic import write_json
from doclstm.storage.fingerprint import sha256_json
from doclstm.storage.manifest import StageManifest
from doclstm.tasks.pretrain import pretrain_encoder
from doclstm.training.checkpoint import resume_dir

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.93
RUNS = ("scratch", "pretrained")


def main() -> None:
    parser = tokens_parser(__doc__)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--labelled-fraction",
        type=float,
        default=1.0,
        help="share of the train split whose labels the classifiers learn from (pretraining "
        "still reads all of its text)",
    )
    parser.add_argument("--work", type=Path, help="keep (and resume from) the runs here")
    parser.add_argument(
        "--runs", default=",".join(RUNS), help='which runs this process does; "": report only'
    )
    args = parser.parse_args()
    runs = [name for name in args.runs.split(",") if name]
    if not set(runs) <= set(RUNS):
        parser.error(f"--runs takes {', '.join(RUNS)}, comma-separated")
    if set(runs) != set(RUNS) and args.work is None:
        parser.error("--runs without both runs needs --work, where their results are kept")
    # force: importing Prefect (tasks.pretrain) set up a root handler at WARNING already.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    params = load_params(args.params, [*args.set, "pretrain.enabled=true"])
    # A result is reused only for the same settings and tokens.
    tokens = StageManifest.load(args.tokens).fingerprint
    key = sha256_json(
        {
            "params": params.model_dump(mode="json"),
            "tokens": tokens,
            "labelled_fraction": args.labelled_fraction,
        }
    )

    with ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        for name in runs:
            if _load(work, name, key) is None:
                result = _run(name, params, args, work)
                write_json(work / f"{name}.json", {"key": key, **result})
        out: dict[str, Any] = {"overrides": args.set, "labelled_fraction": args.labelled_fraction}
        for name in RUNS:
            out[name] = _load(work, name, key)
    if out["scratch"] is None or out["pretrained"] is None:
        print(f"\nruns done so far are in {work}; run the other one to compare")
        return
    _report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def _run(name: str, params: Params, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One run's results: the classifier from scratch, or pretraining then fine-tuning."""
    checkpoints = resume_dir(work / name)
    if name == "scratch":
        run = train_and_test(
            params, args.tokens, args.set, None, checkpoints, args.labelled_fraction
        )
        result = _summary(run)
    else:
        encoder = pretrain_encoder(
            params.pretrain, params.train, params.base.seed, args.tokens, work / "encoder"
        )
        history = json.loads((encoder.encoder_dir / "history.json").read_text())
        tuned = train_and_test(
            params, args.tokens, args.set, encoder.encoder_dir, checkpoints, args.labelled_fraction
        )
        result = _summary(tuned) | {
            # By epoch, so a pretraining resumed across processes is timed whole.
            "pretrain_seconds": sum(r["seconds"] for r in history),
            "pretrain_tokens_per_second": [round(r["tokens_per_second"]) for r in history],
            "held_out_perplexity": [encoder.initial_perplexity, encoder.val_perplexity],
            "pretrain_perplexity_by_epoch": [round(r["val_perplexity"], 2) for r in history],
        }
    shutil.rmtree(checkpoints, ignore_errors=True)
    return result


def _load(work: Path, name: str, key: str) -> dict[str, Any] | None:
    path = work / f"{name}.json"
    if not path.is_file():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result if result.pop("key") == key else None


def _report(out: dict[str, Any]) -> None:
    tuned = out["pretrained"]
    perplexity = tuned["held_out_perplexity"]
    print(
        f"\npretraining: held-out perplexity {perplexity[0]:.1f} untrained -> "
        f"{perplexity[1]:.1f} (by epoch {tuned['pretrain_perplexity_by_epoch']}) "
        f"in {tuned['pretrain_seconds']:.0f} s of training on {tuned['device']}"
    )
    for name in RUNS:
        run = out[name]
        print(
            f"{name:>10}: test accuracy {run['test_accuracy']:.4f}, best epoch "
            f"{run['best_epoch']}/{run['epochs_run']}, trained on {run['train_documents']:,} "
            f"labelled documents in {run['train_seconds']:.0f} s on {run['device']}"
        )
    gain = tuned["test_accuracy"] - out["scratch"]["test_accuracy"]
    print(f"pretrained - scratch: {gain:+.4f}  (goal: pretrained >= {TARGET})")


def _summary(run: TrainedRun) -> dict[str, Any]:
    return {
        "test_accuracy": float((run.probabilities.argmax(1) == run.test.label_ids).mean()),
        "best_epoch": run.fit.best_epoch,
        "epochs_run": len(run.fit.history),
        # Training time by epoch survives a resume; the wall clock is this process's.
        "train_seconds": sum(r["seconds"] for r in run.fit.history),
        "wall_seconds": run.seconds,
        "resumed_at_step": run.fit.resumed_at_step,
        "device": run.device,
        "train_documents": len(run.train),
        "test_documents": len(run.test),
        "val_accuracy_by_epoch": [round(r["val_accuracy"], 4) for r in run.fit.history],
        "mean_test_tokens": float(np.mean(run.test.lengths)),
    }


if __name__ == "__main__":
    main()
