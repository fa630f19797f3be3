"""Scoring cost: the student (the trained doclstm model) against its MiniLM teacher.

Both read the same documents from their text, as a user's archive arrives: the
student tokenizes with its own tokenizer and runs
`doclstm.models.inference.predict_probabilities` (as score and predict do: the
RNN, the bag, the temperature); the teacher cuts each text into MiniLM windows
of `--window` word pieces over the whole document and averages their logits
(doclstm/models/teacher_model.py), as the teacher stage reads documents. With
`--teacher` a fine-tuned teacher folder is loaded; without one, MiniLM with an
untrained head of the same shape (its cost does not depend on its weights).
One thread by default (`--threads`); the two alternate `--rounds` times and
the best round of each is kept. Prints documents/s of each and the ratio
student / teacher (the goal: >= 20).

    .venv/bin/python -m benchmarks.teacher_cost --model models/main --validated data/validated
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from doclstm.models.model_folder import load_model_dir
from doclstm.models.teacher_model import (
    TeacherClassifier,
    document_windows,
    load_teacher,
)
from doclstm.scoring.predictor import TextPredictor
from doclstm.storage.manifest import StageManifest
from doclstm.storage.tables import iter_verified_batches
from doclstm.training.teacher_fit import document_logits

CPU = torch.device("cpu")


def split_texts(validated: Path, split: str) -> list[str]:
    texts: list[str] = []
    columns = ["text", "split"]
    for batch in iter_verified_batches(validated, StageManifest.load(validated), columns=columns):
        rows = batch.to_pydict()
        texts += [t for t, s in zip(rows["text"], rows["split"], strict=True) if s == split]
    return texts


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a trained model folder")
    parser.add_argument("--validated", type=Path, required=True, help="a validated folder")
    parser.add_argument("--teacher", type=Path, help="a teacher folder (models/<run>.teacher)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--window", type=int, default=128, help="without --teacher")
    parser.add_argument("--batch-tokens", type=int, default=16384)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load_model_dir(args.model)
    if args.teacher:
        teacher, config = load_teacher(args.teacher, CPU)
        window, stride = config["window_tokens"], config["stride"]
    else:
        outputs = loaded.model.config.num_outputs
        teacher = TeacherClassifier(outputs, 0.0).eval()
        window, stride = args.window, args.window - 2
    texts = split_texts(args.validated, args.split)
    if not texts:
        parser.error(f"no {args.split} documents in {args.validated}")

    predictor = TextPredictor(loaded, args.batch_tokens, long_documents="window")

    def score_student() -> np.ndarray:
        return predictor.predict(texts)

    def score_teacher() -> np.ndarray:
        windows = document_windows(texts, window, stride)
        return document_logits(teacher, windows.ids, windows.owner, args.batch_tokens, CPU)

    best_student = best_teacher = float("inf")
    for _ in range(args.rounds):  # alternated, so that a drift in machine speed hits both
        best_student = min(best_student, seconds(score_student))
        best_teacher = min(best_teacher, seconds(score_teacher))
    windows = document_windows(texts, window, stride)
    n = len(texts)
    print(
        f"{n} {args.split} documents; the teacher reads {len(windows.ids)} windows of "
        f"{window} word pieces; {args.threads} thread(s)"
    )
    print(f"student {n / best_student:9.1f} documents/s")
    print(f"teacher {n / best_teacher:9.1f} documents/s")
    print(f"ratio student / teacher: {best_teacher / best_student:.1f}x (goal >= 20x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
