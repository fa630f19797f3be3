"""Hierarchical models over frozen MiniLM window vectors, computed once and cached."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from doclstm.config.params import Params
from doclstm.config.workspace import TokenCaches
from doclstm.models.cuts import chunk_windows
from doclstm.models.model_folder import load_model_dir
from doclstm.models.window_encoder import DIM, MiniLMWindows, window_key
from doclstm.scoring.predictor import TextPredictor
from doclstm.storage.manifest import StageManifest
from doclstm.storage.token_data import load_split
from doclstm.tasks.table import run_stage
from doclstm.text.batching import pad_batch
from tests.conftest import stage_fixture

MINILM = [
    "train.model.kind=hierarchical",
    "train.model.chunk_encoder=minilm",
    "train.model.chunk_tokens=48",
    "train.model.chunk_stride=40",
    "train.epochs=2",
]


trained = stage_fixture("train", *MINILM)


def _summary(params: Params) -> dict:
    return StageManifest.load(params.base.workspace / "models/main").summary


def test_window_vectors_are_computed_once_before_training_and_cached(trained: Params) -> None:
    windows = _summary(trained)["window_vectors"]
    assert windows["computed_before_training"] > 300  # every window of 300 documents
    assert windows["computed_in_training"] == 0  # training read them all from the cache
    cache = TokenCaches(trained.base.workspace / "data/tokens").windows
    manifest = StageManifest.load(cache)
    assert not manifest.problems(cache)
    assert manifest.summary["windows"] == windows["computed_before_training"]
    schema = pq.read_schema(cache / "part-00000.parquet")
    assert schema.field("vector").type == pa.list_(pa.float32(), DIM)


def test_a_second_training_with_unchanged_data_computes_no_window(trained: Params) -> None:
    cache = TokenCaches(trained.base.workspace / "data/tokens").windows
    written = (cache / "manifest.json").stat().st_mtime_ns
    again = trained.model_copy(
        update={"train": trained.train.model_copy(update={"epochs": 1})}
    )  # other settings, same data: training runs again
    result = run_stage("train", again)
    assert not result.cached
    windows = _summary(again)["window_vectors"]
    assert windows == {**windows, "computed_before_training": 0, "computed_in_training": 0}
    assert (cache / "manifest.json").stat().st_mtime_ns == written


def test_cached_vectors_are_minilms_and_scoring_reads_raw_text(trained: Params) -> None:
    loaded = load_model_dir(trained.base.workspace / "models/main")
    encoder = loaded.model.window_encoder
    assert isinstance(encoder, MiniLMWindows) and not encoder.cache  # nothing carried in
    assert not any(n.startswith("encoder.") for n, _ in loaded.model.named_parameters())
    # The windows of two test documents: the cache holds what MiniLM gives for them now.
    tokens = trained.base.workspace / "data/tokens"
    test = load_split(tokens, "test")
    config = loaded.model.config
    ids, lengths = pad_batch([test.sequence(0), test.sequence(1)])
    windows, window_lengths, _ = chunk_windows(
        ids, lengths, config.chunk_tokens, config.chunk_stride
    )
    spans = [windows[i, :n].numpy() for i, n in enumerate(window_lengths.tolist())]
    cached = {}
    for shard in sorted(TokenCaches(tokens).windows.glob("part-*.parquet")):
        table = pq.read_table(shard)
        cached.update(zip(table["key"].to_pylist(), table["vector"].to_pylist(), strict=True))
    fresh = encoder.encode(spans, torch.device("cpu"))
    stored = np.asarray([cached[window_key(s)] for s in spans], dtype=np.float32)
    np.testing.assert_allclose(stored, fresh, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(fresh, axis=1), 1.0, atol=1e-5)
    # Scoring raw text: windows MiniLM has not seen are encoded on the fly.
    before = encoder.encoded
    probs = TextPredictor(loaded).predict(["Shares in the bank rose sharply.", "It ended 2-1."])
    assert probs.shape == (2, 5) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert encoder.encoded == before + 2


def test_a_document_scores_the_same_alone_and_in_a_padded_batch(trained: Params) -> None:
    loaded = load_model_dir(trained.base.workspace / "models/main")
    model = loaded.model
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, 2000, size=n) for n in (7, 130, 45)]
    width = max(map(len, docs))
    ids = torch.zeros(len(docs), width, dtype=torch.long)
    for i, d in enumerate(docs):
        ids[i, : len(d)] = torch.from_numpy(d)
    lengths = torch.tensor([len(d) for d in docs])
    with torch.no_grad():
        batch = model(ids, lengths)
        for i, d in enumerate(docs):
            alone = model(torch.from_numpy(d)[None], torch.tensor([len(d)]))
            torch.testing.assert_close(alone[0], batch[i], rtol=1e-5, atol=1e-5)
    assert json.dumps(model.config.to_dict())  # the config round-trips as JSON


def test_evaluation_reads_the_cached_windows(trained: Params) -> None:
    cache = TokenCaches(trained.base.workspace / "data/tokens").windows
    written = (cache / "manifest.json").stat().st_mtime_ns
    result = run_stage("evaluate", trained)
    metrics = json.loads(result.metrics_file.read_text())
    assert metrics["documents"] > 0 and 0 <= metrics["accuracy"] <= 1
    assert (cache / "manifest.json").stat().st_mtime_ns == written
