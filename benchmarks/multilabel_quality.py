"""Several labels a document: micro- and macro-F1 of a params file on GoEmotions,
against TF-IDF + one-vs-rest logistic regression fitted in the same run.

GoEmotions (Demszky et al. 2020): 58k Reddit comments, each with one or more of 28
labels (27 emotions and neutral), in the public `train.tsv`, `dev.tsv`, `test.tsv`
and `labels.txt` of its release (text, comma-separated label ids, comment id). The
pipeline's own stages run (ingest, validate, tokenize, pretrain, teacher, train,
evaluate: `doclstm.tasks.table`, as `doclstm run` calls them) with the params file
and only `ingest.source` changed: the comments as JSON Lines with their label names
as a list and the release's split (dev is val). The baseline is fitted on the same
validated splits: TF-IDF over word uni- and bigrams (sublinear tf, min_df 2), a
logistic regression a label with C picked on val by micro-F1, each label's threshold
tuned on val as the pipeline tunes its own (the best val F1, at least 0.05; the top
label when none passes), scored on test.

    .venv/bin/python -m benchmarks.multilabel_quality --goemotions DIR [--train-docs N]

`--train-docs` keeps the first N train comments (a CPU-sized slice; val and test whole).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from doclstm.config.params import load_params
from doclstm.evaluation.label_decisions import decide
from doclstm.evaluation.multilabel_metrics import f1_scores, tune_thresholds
from doclstm.storage.manifest import StageManifest
from doclstm.storage.tables import iter_verified_batches
from doclstm.tasks.table import run_stage

REPO = Path(__file__).resolve().parent.parent
STAGES = ("ingest", "validate", "tokenize", "pretrain", "teacher", "train", "evaluate")
SPLITS = {"train.tsv": "train", "dev.tsv": "val", "test.tsv": "test"}
C_GRID = (1.0, 4.0, 16.0, 64.0)


def goemotions_jsonl(folder: Path, dest: Path, train_docs: int) -> int:
    """The release's three files as one JSON Lines source; the rows written."""
    names = (folder / "labels.txt").read_text(encoding="utf-8").split()
    rows = []
    for file, split in SPLITS.items():
        lines = (folder / file).read_text(encoding="utf-8").splitlines()
        if split == "train" and train_docs:
            lines = lines[:train_docs]
        for line in lines:
            text, ids, comment = line.split("\t")
            labels = [names[int(i)] for i in ids.split(",")]
            rows.append({"id": comment, "text": text, "label": labels, "split": split})
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if not dest.is_file() or dest.read_text(encoding="utf-8") != data:
        dest.write_text(data, encoding="utf-8")
    return len(rows)


def tfidf_one_vs_rest(validated: Path, labels: list[str]) -> dict[str, Any]:
    """The baseline's test scores on the validated splits, with its C and seconds."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    started = time.perf_counter()
    texts: dict[str, list[str]] = {}
    targets: dict[str, list[np.ndarray]] = {}
    index = {name: i for i, name in enumerate(labels)}
    manifest = StageManifest.load(validated)
    for batch in iter_verified_batches(validated, manifest, columns=["text", "labels", "split"]):
        rows = batch.to_pydict()
        for text, names, split in zip(rows["text"], rows["labels"], rows["split"], strict=True):
            row = np.zeros(len(labels), dtype=bool)
            row[[index[n] for n in names]] = True
            texts.setdefault(split, []).append(text)
            targets.setdefault(split, []).append(row)
    y = {split: np.stack(rows) for split, rows in targets.items()}
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x_train = vectorizer.fit_transform(texts["train"])
    x_val, x_test = vectorizer.transform(texts["val"]), vectorizer.transform(texts["test"])
    fitted = {}
    for c in C_GRID:
        model = OneVsRestClassifier(LogisticRegression(C=c, max_iter=3000), n_jobs=1)
        val = model.fit(x_train, y["train"]).predict_proba(x_val)
        thresholds = tune_thresholds(y["val"], val)
        fitted[c] = (f1_scores(y["val"], decide(val, thresholds))["micro_f1"], model, thresholds)
    best = max(C_GRID, key=lambda c: fitted[c][0])
    _, model, thresholds = fitted[best]
    scores = f1_scores(y["test"], decide(model.predict_proba(x_test), thresholds))
    return {**scores, "c": best, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goemotions", type=Path, required=True, help="the release's data/")
    parser.add_argument("--train-docs", type=int, default=0, help="first N train comments")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--set", "-s", action="append", default=[], help="param override")
    parser.add_argument("--work", type=Path, help="the workspace (default: a temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    work = args.work or Path(tempfile.mkdtemp(prefix="doclstm-multilabel-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = goemotions_jsonl(args.goemotions, work / "goemotions.jsonl", args.train_docs)
    source = {"path": str(work / "goemotions.jsonl"), "split_column": "split"}
    params = load_params(
        args.params, [*args.set, f"base.workspace={work}", f"ingest.source={json.dumps(source)}"]
    )
    seconds = {}
    for stage in STAGES:
        started = time.perf_counter()
        run_stage(stage, params)
        seconds[stage] = round(time.perf_counter() - started, 1)
    metrics = json.loads((work / "reports/metrics.json").read_text(encoding="utf-8"))
    labels = json.loads((work / "models/main/labels.json").read_text(encoding="utf-8"))
    baseline = tfidf_one_vs_rest(work / "data/validated", labels)
    print(f"goemotions: {rows:,} comments, {len(labels)} labels; stage seconds {seconds}")
    print("| model | micro-F1 [95%] | macro-F1 [95%] | samples-F1 | subset accuracy |")
    print("|---|---|---|---|---|")
    intervals = metrics["intervals_95"]
    print(
        f"| doclstm | {metrics['micro_f1']:.4f} [{intervals['micro_f1'][0]:.3f}, "
        f"{intervals['micro_f1'][1]:.3f}] | {metrics['macro_f1']:.4f} "
        f"[{intervals['macro_f1'][0]:.3f}, {intervals['macro_f1'][1]:.3f}] "
        f"| {metrics['samples_f1']:.4f} | {metrics['subset_accuracy']:.4f} |"
    )
    print(
        f"| TF-IDF + one-vs-rest LR (C {baseline['c']:g}) | {baseline['micro_f1']:.4f} "
        f"| {baseline['macro_f1']:.4f} | {baseline['samples_f1']:.4f} "
        f"| {baseline['subset_accuracy']:.4f} |"
    )
    print(
        f"micro-F1 ratio doclstm / baseline: {metrics['micro_f1'] / baseline['micro_f1']:.3f}; "
        f"ECE {metrics['expected_calibration_error']:.4f} "
        f"(floor {metrics['expected_calibration_error_floor']:.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
