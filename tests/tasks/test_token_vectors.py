"""Token vectors distilled from MiniLM: deterministic, one per token, computed once per
tokenizer, refused for another tokenizer, and what training and pretraining start from."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from safetensors.numpy import save_file

from doclstm.config.params import Params
from doclstm.config.workspace import TokenCaches
from doclstm.errors import DoclstmError
from doclstm.models import token_vectors as tv
from doclstm.storage.manifest import StageManifest, file_entry
from doclstm.tasks.table import run_stage
from doclstm.text.tokenizer import PAD_ID, UNK_ID, load_tokenizer
from tests.conftest import stage_fixture, tokens_workspace

MINILM_INIT = ["train.model.embedding_init=minilm", "train.epochs=1"]
CPU = torch.device("cpu")


trained = stage_fixture("train", *MINILM_INIT)


def _tokens(params: Params) -> Path:
    return params.base.workspace / "data/tokens"


def _summary(params: Params, run: str = "main") -> dict:
    return StageManifest.load(params.base.workspace / f"models/{run}").summary


def test_training_starts_from_a_vector_for_every_token(trained: Params) -> None:
    summary = _summary(trained)
    vocab_size = load_tokenizer(_tokens(trained) / "tokenizer.json").get_vocab_size()
    assert summary["embedding_init"] == "minilm"
    assert summary["token_vectors_loaded"] == vocab_size
    assert summary["token_vectors_computed"] is True
    kept = tv.load_token_vectors(
        TokenCaches(_tokens(trained)).token_vectors, summary["tokenizer_sha256"]
    )
    assert kept.vectors.shape == (vocab_size, tv.DIM)
    assert np.all(kept.vectors[PAD_ID] == 0)
    assert np.all(np.isfinite(kept.vectors)) and np.linalg.norm(kept.vectors[2:], axis=1).min() > 0


def test_the_embedding_starts_from_the_vectors(trained: Params) -> None:
    from doclstm.models.config import ModelConfig
    from doclstm.models.model import SequenceClassifier

    summary = _summary(trained)
    kept = tv.load_token_vectors(
        TokenCaches(_tokens(trained)).token_vectors, summary["tokenizer_sha256"]
    )
    tokens_summary = StageManifest.load(_tokens(trained)).summary
    model = SequenceClassifier(ModelConfig.for_tokens(tokens_summary, trained.train.model))
    tv.start_embedding(model, "minilm", _tokens(trained), CPU)
    expected = tv.embedding_matrix(kept.vectors, trained.train.model.embedding_dim)
    assert torch.equal(model.embedding.weight.detach(), expected)


def test_a_second_training_computes_no_vectors(
    trained: Params, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> np.ndarray:
        raise AssertionError("MiniLM ran again")

    monkeypatch.setattr(tv, "distill", refuse)
    again = trained.model_copy(
        update={"train": trained.train.model_copy(update={"run_name": "again"})}
    )
    run_stage("train", again)
    summary = _summary(again, "again")
    assert summary["token_vectors_computed"] is False
    assert summary["token_vectors_loaded"] == _summary(trained)["token_vectors_loaded"]


def test_distilled_vectors_are_deterministic(trained: Params) -> None:
    tokenizer = load_tokenizer(_tokens(trained) / "tokenizer.json")
    first = tv.distill(tokenizer, CPU)
    kept = tv.load_token_vectors(
        TokenCaches(_tokens(trained)).token_vectors, _summary(trained)["tokenizer_sha256"]
    )
    assert first.tobytes() == kept.vectors.tobytes()  # same tokenizer, same bytes


def test_vectors_kept_for_another_tokenizer_are_refused(trained: Params, tmp_path: Path) -> None:
    kept = tmp_path / "token_vectors"
    shutil.copytree(TokenCaches(_tokens(trained)).token_vectors, kept)
    with pytest.raises(DoclstmError, match=r"made for tokenizer .* not for"):
        tv.load_token_vectors(kept, "0" * 64)


def test_a_cache_for_another_tokenizer_is_computed_again(
    trained: Params, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache is keyed by the tokenizer file's content: a changed file misses it."""
    tokens = tmp_path / "data/tokens"
    tokens.mkdir(parents=True)
    original = _tokens(trained) / "tokenizer.json"
    (tokens / "tokenizer.json").write_text(original.read_text() + "\n")  # other bytes
    shutil.copytree(TokenCaches(_tokens(trained)).token_vectors, TokenCaches(tokens).token_vectors)
    calls = []
    monkeypatch.setattr(tv, "distill", lambda tok, device: calls.append(1) or np.zeros((5, 384)))
    found = tv.token_vectors(tokens / "tokenizer.json", TokenCaches(tokens).token_vectors, CPU)
    assert calls and found.computed


def test_a_wrong_number_of_vectors_is_refused(trained: Params, tmp_path: Path) -> None:
    kept = tmp_path / "token_vectors"
    shutil.copytree(TokenCaches(_tokens(trained)).token_vectors, kept)
    save_file({"vectors": np.zeros((7, tv.DIM), dtype=np.float32)}, str(kept / tv.VECTORS))
    manifest = StageManifest.load(kept)
    files = {tv.VECTORS: file_entry(kept / tv.VECTORS)}
    StageManifest(manifest.stage, manifest.fingerprint, files, manifest.summary).write(kept)
    with pytest.raises(DoclstmError, match="7 vectors"):
        tv.load_token_vectors(kept, manifest.summary["tokenizer_sha256"])


def test_a_damaged_cache_is_refused(trained: Params, tmp_path: Path) -> None:
    kept = tmp_path / "token_vectors"
    shutil.copytree(TokenCaches(_tokens(trained)).token_vectors, kept)
    with (kept / tv.VECTORS).open("r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    with pytest.raises(DoclstmError, match="checksum mismatch"):
        tv.load_token_vectors(kept, _summary(trained)["tokenizer_sha256"])


def test_pretraining_starts_from_the_vectors_too(
    built_workspace: Path, small_corpus: Path, tmp_path: Path
) -> None:
    params = tokens_workspace(
        tmp_path,
        built_workspace,
        small_corpus,
        *MINILM_INIT,
        "pretrain.enabled=true",
        "pretrain.epochs=1",
        "pretrain.samples=64",
    )
    run_stage("pretrain", params)
    summary = StageManifest.load(tmp_path / "models/main.encoder").summary
    assert summary["embedding_init"] == "minilm"
    vocab_size = load_tokenizer(tmp_path / "data/tokens/tokenizer.json").get_vocab_size()
    assert summary["token_vectors_loaded"] == vocab_size


def test_token_texts_drop_the_word_piece_marks(trained: Params) -> None:
    tokenizer = load_tokenizer(_tokens(trained) / "tokenizer.json")
    texts = tv.token_texts(tokenizer)
    pieces = [i for i in range(len(texts)) if tokenizer.id_to_token(i).startswith("##")]
    assert pieces, "a wordpiece vocabulary has continuation pieces"
    assert all(texts[i] == tokenizer.id_to_token(i)[2:] for i in pieces)
    assert texts[UNK_ID] == "[UNK]"


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(12, 40), st.just(16)),
        elements=st.floats(-4, 4, width=32),
    ),
    st.integers(1, 8),
)
def test_embedding_matrix_is_centred_unit_scale_and_deterministic(
    vectors: np.ndarray, dim: int
) -> None:
    vectors[PAD_ID] = 0
    rows = vectors[1:]
    if np.linalg.matrix_rank(rows - rows.mean(0)) < dim or np.ptp(rows, axis=0).max() < 1e-2:
        return  # degenerate: fewer independent directions than the dimensions asked for
    matrix = tv.embedding_matrix(vectors, dim)
    assert matrix.shape == (len(vectors), dim)
    assert torch.all(matrix[PAD_ID] == 0)
    real = matrix[1:].double()
    assert torch.sqrt((real**2).mean()).item() == pytest.approx(1.0, rel=1e-4)
    assert torch.allclose(real.mean(0), torch.zeros(dim, dtype=torch.float64), atol=1e-4)
    assert torch.equal(matrix, tv.embedding_matrix(vectors.copy(), dim))


def test_embedding_matrix_refuses_more_dimensions_than_the_vectors_have() -> None:
    with pytest.raises(DoclstmError, match="over the 16 dimensions"):
        tv.embedding_matrix(np.ones((10, 16), dtype=np.float32), 17)
