"""The drift measures: the PSI by hand, shard counts that sum to the counts of the whole,
and an alert exactly when a threshold is passed."""

from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.config.params import DriftParams
from doclstm.scoring.drift import drift_report, merge_counts, psi, shard_counts
from doclstm.scoring.predictor import Scores

LABELS = ["a", "b", "c"]


def test_psi_by_hand() -> None:
    # (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5)
    assert math.isclose(psi({"x": 0.5, "y": 0.5}, {"x": 0.8, "y": 0.2}), 0.41588830833596)
    assert psi({"x": 0.3, "y": 0.7}, {"x": 0.3, "y": 0.7}) == 0.0
    # an empty bucket counts as 1e-4: finite, and large
    by_hand = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert math.isclose(psi({"x": 1.0}, {"x": 0.5, "y": 0.5}), by_hand)


documents = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(0, 2), st.floats(0.34, 1.0)), max_size=40
)


def _counts(docs: list[tuple[int, int, float]], unknown: int = 0, window: int = 512) -> dict:
    probs = np.zeros((len(docs), 3))
    for i, (_, label, top) in enumerate(docs):
        probs[i] = (1 - top) / 2
        probs[i, label] = top
    tokens = np.array([t for t, _, _ in docs], dtype=np.int64)
    unknowns = np.zeros(len(docs), dtype=np.int64)
    unknowns[:1] = unknown
    return shard_counts(Scores(probs, None, tokens, unknowns, "truncated"), window, LABELS)


@settings(max_examples=60, deadline=None)
@given(st.lists(documents, min_size=1, max_size=5))
def test_shard_counts_sum_to_the_counts_of_all_the_documents(shards: list) -> None:
    merged = merge_counts([_counts(docs) for docs in shards])
    assert merged == _counts([d for docs in shards for d in docs])


def _training() -> dict:
    return {
        "documents": 100,
        "length_histogram": {"0-16": 0, "16-32": 50, "32-64": 50},
        "label_shares": {"a": 0.5, "b": 0.25, "c": 0.25},
        "unknown_token_share": 0.01,
        "truncated_share": 0.0,
    }


def test_the_same_documents_raise_no_alert_and_shifted_ones_each_their_own() -> None:
    same = [(20, 0, 0.9), (40, 0, 0.9), (20, 1, 0.9), (40, 2, 0.9)]
    quiet = drift_report(_counts(same), _training(), DriftParams())
    assert quiet["drifted"] is False and quiet["alerts"] == []
    assert quiet["scored"]["length_psi"] == 0.0 and quiet["scored"]["label_psi"] == 0.0

    long_unsure = [(4000, 0, 0.5)] * 4  # over the 512 window, one label, unsure
    loud = drift_report(_counts(long_unsure, unknown=100), _training(), DriftParams())
    assert loud["drifted"] and {alert.split()[0] for alert in loud["alerts"]} == {
        "length_psi",
        "label_psi",
        "unknown_increase",  # 100 of 2,048 tokens read against 1% in training
        "over_window_increase",
        "unsure_share",
    }
    relaxed = DriftParams(max_length_psi=100, max_label_psi=100, max_unsure_share=1)
    report = drift_report(_counts(long_unsure), _training(), relaxed)
    assert [alert.split()[0] for alert in report["alerts"]] == ["over_window_increase"]
    assert (
        report["alerts"][0]
        == "over_window_increase 1.000 > score.drift.max_over_window_increase 0.1"
    )


def _multilabel_counts(chosen: list[list[bool]], sure: float = 0.9) -> dict:
    picked = np.array(chosen, dtype=bool)
    probs = np.where(picked, sure, 1 - sure)
    n = len(chosen)
    tokens = np.resize(np.array([20, 40], dtype=np.int64), n)  # as in training
    unknown = np.zeros(n, dtype=np.int64)
    return shard_counts(Scores(probs, picked, tokens, unknown, "truncated"), 512, LABELS)


def test_several_labels_a_document_compare_each_labels_share_and_name_the_one_that_moved() -> None:
    # training: a on half the documents, b and c on a quarter each, some on two
    training = _training()
    as_trained = [[True, True, False], [True, False, True], [False, False, False]] * 2
    as_trained += [[False, False, False], [False, False, False]]
    counts = merge_counts([_multilabel_counts(as_trained[:4]), _multilabel_counts(as_trained[4:])])
    assert counts is not None and counts["multi_label"] is True
    assert counts["labels"] == {"a": 4, "b": 2, "c": 2}  # a document counts for each label
    # confidence: the chance the predicted list is exactly right, 0.9 ** 3 for each
    assert sum(counts["confidence"][72:73]) == 8
    quiet = drift_report(counts, training, DriftParams(confidence=0.5))
    assert quiet["scored"]["label_psi"] == 0.0 and not quiet["drifted"], quiet["alerts"]
    assert quiet["scored"]["label_shares"] == {"a": 0.5, "b": 0.25, "c": 0.25}

    c_everywhere = [[row[0], row[1], True] for row in as_trained]
    loud = drift_report(_multilabel_counts(c_everywhere), training, DriftParams(confidence=0.5))
    assert loud["scored"]["label_psi_label"] == "c"
    by_hand = (1 - 0.25) * math.log(1 / 0.25) + (1e-4 - 0.75) * math.log(1e-4 / 0.75)
    assert math.isclose(loud["scored"]["label_psi"], by_hand)
    assert [alert.split()[0] for alert in loud["alerts"]] == ["label_psi"]

    # Every list 0.729 sure, under a 0.8 line: unsure against an absolute share, but as
    # usual against the model's val at training (its profile's confidence histogram).
    strict = DriftParams(confidence=0.8)
    assert drift_report(counts, training, strict)["alerts"][0].startswith("unsure_share 1.000")
    usual = training | {"confidence_histogram": counts["confidence"]}
    calm = drift_report(counts, usual, strict)
    assert calm["alerts"] == [] and calm["scored"]["unsure_share"] == 0.0
    assert calm["scored"]["training_unsure_share"] == calm["scored"]["scored_unsure_share"] == 1


def test_a_model_without_a_training_profile_reports_without_alerts() -> None:
    report = drift_report(_counts([(20, 0, 0.9)]), None, DriftParams())
    assert report["drifted"] is False and "profile.json" in report["note"]
    assert drift_report(None, _training(), DriftParams())["note"] == "no document was scored"


def test_psi_is_the_same_to_the_last_bit_whatever_the_string_hashes() -> None:
    """A report is reproducible: the sum runs over the buckets in one order, not in the
    order a set of strings happens to take in one process (PYTHONHASHSEED)."""
    import subprocess
    import sys

    code = (
        "from doclstm.scoring.drift import psi\n"
        "expected = {f'b{i}': (i % 7 + 1) / 3e3 for i in range(300)}\n"
        "actual = {f'b{i}': (i % 11 + 1) / 7e3 * (1 + i / 1e3) for i in range(40, 330)}\n"
        "print(repr(psi(expected, actual)))\n"
    )
    answers = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert len(answers) == 1, answers
