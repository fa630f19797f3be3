"""The evaluation page: the surest mistakes picked right, data escaped, nothing fetched."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from doclstm.evaluation.report_page import EXCERPT_CHARS, evaluation_page, surest_mistakes

LABELS = ["ham", "spam"]
METRICS = {
    "documents": 4,
    "accuracy": 0.5,
    "macro_f1": 0.5,
    "intervals_95": {"accuracy": [0.1, 0.9], "macro_f1": [0.2, 0.8]},
    "log_loss": 0.7,
    "per_class": {
        "ham": {"support": 2, "precision": 0.5, "recall": 0.5, "f1": 0.5},
        "spam": {"support": 2, "precision": 0.5, "recall": 0.5, "f1": 0.5},
    },
    "confusion_matrix": [[1, 1], [1, 1]],
    "accuracy_by_length": [{"min_tokens": 3, "max_tokens": 1200, "documents": 4, "accuracy": 0.5}],
}


@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.lists(st.floats(0.01, 1), min_size=3, max_size=3)),
        max_size=30,
    ),
    st.integers(0, 5),
)
def test_the_surest_mistakes_are_the_wrong_ones_by_confidence(
    rows: list[tuple[int, list[float]]], shown: int
) -> None:
    truths = [t for t, _ in rows]
    probs = [p for _, p in rows]
    ids = [f"d{i}" for i in range(len(rows))]
    picked = surest_mistakes(ids, truths, probs, ["a", "b", "c"], lambda i: f"text {i}", shown)
    wrong = [i for i, (t, p) in enumerate(rows) if p.index(max(p)) != t]
    assert len(picked) == min(shown, len(wrong))
    assert [m.confidence for m in picked] == sorted((m.confidence for m in picked), reverse=True)
    worst_left_out = max(
        (max(probs[i]) for i in wrong if f"d{i}" not in {m.doc_id for m in picked}), default=0
    )
    assert all(m.confidence >= worst_left_out for m in picked)
    for m in picked:
        i = int(m.doc_id[1:])
        assert (m.label, m.excerpt) == (["a", "b", "c"][truths[i]], f"text {i}")
        assert m.predicted != m.label and m.confidence == max(probs[i])


def test_the_page_escapes_the_data_embeds_the_plots_and_cuts_long_texts(tmp_path: Path) -> None:
    plot = tmp_path / "roc.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    texts = ["<script>alert(1)</script>", "x" * (EXCERPT_CHARS + 50)]
    mistakes = surest_mistakes(
        ["<b>doc</b>", "long"], [0, 1], [[0.1, 0.9], [0.8, 0.2]], LABELS, texts.__getitem__
    )
    page = evaluation_page("Evaluation <of> m", METRICS, LABELS, {"roc": plot}, mistakes)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;doc&lt;/b&gt;" in page and "<title>Evaluation &lt;of&gt; m</title>" in page
    assert "x" * (EXCERPT_CHARS - 1) + "…" in page and "x" * EXCERPT_CHARS not in page
    assert "<td>accuracy</td><td>0.5000</td><td>0.1000 to 0.9000</td>" in page
    assert "<td>3 to 1,200</td><td>4</td><td>0.5000</td>" in page
    assert page.count("data:image/png;base64,") == 1
    assert "http://" not in page and "https://" not in page  # opens offline


def test_no_mistakes_says_so() -> None:
    page = evaluation_page("e", METRICS, LABELS, {}, [])
    assert "None: every test document was right." in page
