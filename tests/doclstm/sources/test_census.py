"""Validate's first pass (doclstm/sources/census.py) on real texts with known answers."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.config.params import load_params
from doclstm.sources.census import DUPLICATE_ID, take_census
from doclstm.storage.tables import DOCUMENTS, write_table
from doclstm.tasks.ingest import ingest_documents
from tests.doclstm.sources.rows import document_row as _row

BBC_CLASSES = {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}


def _parts(folder: Path, parts: list[list[dict]]) -> list[Path]:
    paths = []
    for i, rows in enumerate(parts):
        path = folder / f"part-{i:05d}.parquet"
        write_table(pa.Table.from_pylist(rows, schema=DOCUMENTS), path)
        paths.append(path)
    return paths


def _reference(rows: list[dict]) -> tuple[dict[int, str], set[int], dict[str, int]]:
    """The same questions as plain Python over every row: flagged rows, repeated texts,
    labelled train documents per label."""
    train = {r["sha256"] for r in rows if r["split"] == "train" and r["label"] and r["sha256"]}
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    flagged: dict[int, str] = {}
    repeated_texts: set[int] = set()
    for i, r in enumerate(rows):
        if r["doc_id"] in seen_ids:
            flagged[i] = DUPLICATE_ID
        elif r["split"] in ("val", "test") and r["sha256"] in train:
            flagged[i] = f"leakage: same text as a train document (sha256 {r['sha256'][:12]})"
        seen_ids.add(r["doc_id"])
        if r["sha256"] is not None:
            if r["sha256"] in seen_texts:
                repeated_texts.add(i)
            seen_texts.add(r["sha256"])
    labels = Counter(r["label"] for r in rows if r["split"] == "train" and r["label"] is not None)
    return flagged, repeated_texts, dict(labels)


@pytest.fixture(scope="module")
def bbc_ingested(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The whole built-in BBC News corpus (2,225 articles), ingested."""
    root = tmp_path_factory.mktemp("bbc_all")
    params = load_params(None, [f"base.workspace={root}", "ingest.source=builtin:bbcnews"])
    ingest_documents(params.ingest, root, root / "ingested", root / "quarantine")
    return sorted((root / "ingested").glob("part-*.parquet"))


def test_bbc_news_has_its_98_repeated_articles_and_its_published_class_counts(
    bbc_ingested: list[Path],
) -> None:
    census = take_census(bbc_ingested)
    rows = pa.concat_tables([pq.read_table(p) for p in bbc_ingested]).to_pylist()
    assert census.rows == len(rows) == 2225
    # 98: counted from the corpus files' bytes (2,225 files, 2,127 distinct).
    assert len(census.repeated_texts) == 98
    by_class = Counter()
    for split in census.splits.values():
        by_class.update(split["classes"])
    assert dict(by_class) == BBC_CLASSES
    flagged, repeated, labels = _reference(rows)
    assert census.flagged == flagged and census.train_labels == labels
    assert repeated == census.repeated_texts
    leaks = [why for why in census.flagged.values() if why.startswith("leakage")]
    assert len(leaks) == census.summary()["leaked_texts"] > 0  # copies across the splits
    assert census.summary()["repeated_ids"] == 0
    assert sum(s["documents"] for s in census.splits.values()) == 2225
    longest = max(rows, key=lambda r: len(r["text"]))
    assert census.splits[longest["split"]]["chars"]["max"] == len(longest["text"])


def test_planted_repeats_and_leaks_are_found_by_row_across_parts(
    bbc_ingested: list[Path], tmp_path: Path
) -> None:
    texts = [r["text"] for r in pq.read_table(bbc_ingested[0], columns=["text"]).to_pylist()]
    a, b, c, d, e = texts[:5]
    parts = [
        [
            _row("a", a, "tech", "train"),  # 0
            _row("b", b, "sport", "train"),  # 1
            _row("u", e, None, "unlabelled"),  # 2: an unlabelled text is no leakage source
        ],
        [
            _row("a", c, "tech", "train"),  # 3: doc_id of row 0, another part
            _row("leak-val", a, "tech", "val"),  # 4: row 0's text in val
            _row("copy", b, "sport", "train"),  # 5: a repeated text inside train: kept
        ],
        [
            _row("leak-test", b, "business", "test"),  # 6: row 1's text, whatever its label
            _row("not-leak", e, "tech", "test"),  # 7: only the unlabelled row has it
            _row("leak-val", d, "tech", "val"),  # 8: a repeated id, and no leak
            _row("null", None, "tech", "test"),  # 9
        ],
    ]
    census = take_census(_parts(tmp_path, parts))
    sha = hashlib.sha256
    assert census.flagged == {
        3: DUPLICATE_ID,
        4: f"leakage: same text as a train document (sha256 {sha(a.encode()).hexdigest()[:12]})",
        6: f"leakage: same text as a train document (sha256 {sha(b.encode()).hexdigest()[:12]})",
        8: DUPLICATE_ID,
    }
    assert census.repeated_texts == {4, 5, 6, 7}  # each repeats an earlier text
    assert census.train_labels == {"sport": 2, "tech": 2}
    assert list(census.splits) == ["train", "val", "test", "unlabelled"]
    test = census.splits["test"]
    assert (test["documents"], test["labelled"], test["classes"]) == (
        3,
        3,
        {"business": 1, "tech": 2},
    )
    assert test["chars"]["min"] == min(len(b), len(e))
    assert census.splits["val"]["chars"]["max"] == max(len(a), len(d))
    assert census.summary() | {"splits": None} == {
        "repeated_ids": 2,
        "leaked_texts": 2,
        "duplicate_texts": 4,
        "splits": None,
    }


_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["d0", "d1", "d2", "d3", "d4", "d5"]),
        st.sampled_from(["alpha", "beta", "gamma", "delta", None]),
        st.sampled_from(["pos", "neg", None]),
        st.sampled_from(["train", "val", "test", "unlabelled"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=_ROWS, cuts=st.lists(st.integers(0, 40), max_size=3))
def test_the_census_answers_as_a_plain_loop_over_every_row_does(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple], cuts: list[int]
) -> None:
    docs = [_row(*row) for row in rows]
    edges = sorted({0, len(docs), *(min(c, len(docs)) for c in cuts)})
    parts = [docs[lo:hi] for lo, hi in itertools.pairwise(edges) if hi > lo]
    census = take_census(_parts(tmp_path_factory.mktemp("parts"), parts))
    flagged, repeated, labels = _reference(docs)
    assert (census.flagged, census.repeated_texts, census.train_labels) == (
        flagged,
        repeated,
        labels,
    )
    assert census.rows == len(docs)
    for split, stats in census.splits.items():
        mine = [d for d in docs if d["split"] == split]
        lengths = [len(d["text"]) for d in mine if d["text"] is not None]
        assert stats["documents"] == len(mine)
        assert stats["chars"]["max"] == (max(lengths) if lengths else None)
