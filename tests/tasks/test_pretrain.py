"""Pretraining the encoder as a language model, and fine-tuning the classifier from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from doclstm.encoder_file import ENCODER_WEIGHTS, load_encoder
from doclstm.errors import DoclstmError
from doclstm.language_model import EncoderLanguageModel, segment_starts
from doclstm.manifest import StageManifest
from doclstm.model import ModelConfig, SequenceClassifier
from doclstm.params import Params
from doclstm.stages import encoder_folder, run_stage
from doclstm.token_data import load_split
from tests.conftest import tiny_params
from tests.devices import DEVICES

PRETRAIN = [
    "pretrain.enabled=true",
    "pretrain.epochs=4",
    "pretrain.learning_rate=0.01",
    "pretrain.patience=4",
    "pretrain.batch_tokens=512",
    "pretrain.bptt=32",
    "pretrain.samples=256",
    "pretrain.held_out_fraction=0.1",
]


@pytest.fixture(scope="module")
def pretrained(
    built_workspace: Path, small_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Params:
    root = tmp_path_factory.mktemp("pretrain")
    shutil.copytree(built_workspace / "data/tokens", root / "data/tokens")
    params = tiny_params(root, small_corpus, *PRETRAIN)
    run_stage("pretrain", params)
    return params


def test_pretraining_lowers_held_out_perplexity_on_train_text_only(pretrained: Params) -> None:
    out = encoder_folder(pretrained)
    manifest = StageManifest.load(out)
    assert not manifest.problems(out)
    summary = manifest.summary
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    perplexities = [r["val_perplexity"] for r in history]
    # Untrained, the model is near uniform over the 2,000-word vocabulary.
    assert summary["initial_val_perplexity"] > 1_000
    assert summary["val_perplexity"] == min(perplexities) < summary["initial_val_perplexity"] / 3
    assert perplexities[-1] < perplexities[0]
    # It learned from train documents only (this corpus has no unlabelled ones).
    train = load_split(pretrained.base.workspace / "data/tokens", "train")
    assert summary["documents"] + summary["held_out_documents"] == len(train)
    assert summary["tokens"] + summary["held_out_tokens"] // 2 <= int(train.lengths.sum())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_pretraining_on_cuda_lowers_perplexity_at_every_precision(
    built_workspace: Path, small_corpus: Path, tmp_path: Path, precision: str
) -> None:
    """The same stage on the GPU: cuDNN's packed recurrence, autocast and (fp16) the
    gradient scaler, through the sampled softmax."""
    shutil.copytree(built_workspace / "data/tokens", tmp_path / "data/tokens")
    params = tiny_params(
        tmp_path, small_corpus, *PRETRAIN, "train.device=cuda", f"train.precision={precision}"
    )
    run_stage("pretrain", params)
    summary = StageManifest.load(encoder_folder(params)).summary
    assert summary["device"].startswith("cuda")
    assert summary["val_perplexity"] < summary["initial_val_perplexity"] / 3


def test_a_second_run_reuses_the_encoder(pretrained: Params) -> None:
    assert run_stage("pretrain", pretrained).cached


def test_fine_tuning_loads_every_encoder_tensor_by_name_and_shape(pretrained: Params) -> None:
    result = run_stage("train", pretrained)
    summary = StageManifest.load(result.model_dir).summary
    config = ModelConfig(vocab_size=2000, num_labels=5, **pretrained.train.model.model_dump())
    encoder_names = sorted(
        k for k in SequenceClassifier(config).state_dict() if k.startswith(("embedding.", "rnn."))
    )
    assert summary["initialized_tensors"] == encoder_names
    assert summary["initialized_from"] == str(encoder_folder(pretrained))
    # The weights really are the pretrained ones before fine-tuning moves them.
    model = SequenceClassifier(config)
    tokens = StageManifest.load(pretrained.base.workspace / "data/tokens")
    load_encoder(model, config, encoder_folder(pretrained), tokens.files["tokenizer.json"].sha256)
    saved = load_file(str(encoder_folder(pretrained) / ENCODER_WEIGHTS))
    for name in encoder_names:
        torch.testing.assert_close(model.state_dict()[name], saved[name], rtol=0, atol=0)


def test_an_encoder_that_does_not_fit_is_refused(pretrained: Params, tmp_path: Path) -> None:
    folder = encoder_folder(pretrained)
    sha = StageManifest.load(pretrained.base.workspace / "data/tokens").files["tokenizer.json"]
    fields = pretrained.train.model.model_dump()
    other = ModelConfig(vocab_size=2000, num_labels=5, **{**fields, "hidden_size": 16})
    with pytest.raises(DoclstmError, match="hidden_size"):
        load_encoder(SequenceClassifier(other), other, folder, sha.sha256)
    config = ModelConfig(vocab_size=2000, num_labels=5, **fields)
    with pytest.raises(DoclstmError, match="another tokenizer"):
        load_encoder(SequenceClassifier(config), config, folder, "0" * 64)
    # A file with a tensor too many (or too few) is refused, not half loaded.
    shutil.copytree(folder, tmp_path / "enc")
    state = load_file(str(folder / ENCODER_WEIGHTS))
    save_file({**state, "rnn.extra": torch.zeros(1)}, str(tmp_path / "enc" / ENCODER_WEIGHTS))
    with pytest.raises(DoclstmError, match=r"unexpected \['rnn.extra'\]"):
        load_encoder(SequenceClassifier(config), config, tmp_path / "enc", sha.sha256)
    state.pop("embedding.weight")
    save_file(state, str(tmp_path / "enc" / ENCODER_WEIGHTS))
    with pytest.raises(DoclstmError, match=r"missing \['embedding.weight'\]"):
        load_encoder(SequenceClassifier(config), config, tmp_path / "enc", sha.sha256)


def _lm(cell: str, layers: int, bidirectional: bool) -> EncoderLanguageModel:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=50,
        num_labels=2,
        cell=cell,
        embedding_dim=8,
        hidden_size=6,
        num_layers=layers,
        bidirectional=bidirectional,
    )
    return EncoderLanguageModel(config).eval()


def _loss(model: EncoderLanguageModel, docs: list[list[int]], bptt: int) -> tuple[float, int]:
    """Summed full-softmax loss of `docs` in one padded batch, `bptt` steps at a time."""
    lengths = torch.tensor([len(d) for d in docs])
    ids = torch.zeros(len(docs), int(lengths.max()), dtype=torch.long)
    for i, doc in enumerate(docs):
        ids[i, : len(doc)] = torch.tensor(doc)
    ids = ids.to(model.embedding.weight.device)
    streams, state, total, tokens = model.streams(ids, lengths), None, 0.0, 0
    with torch.no_grad():
        for start in segment_starts(lengths, bptt):
            nll, count, state = model(streams, lengths, start, bptt, state, 0)
            total, tokens = total + float(nll), tokens + count
    return total, tokens


docs = st.lists(st.lists(st.integers(2, 49), min_size=1, max_size=40), min_size=1, max_size=5)


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=40, deadline=None)
@given(
    docs=docs,
    bptt=st.integers(2, 12),
    cell=st.sampled_from(["lstm", "gru"]),
    layers=st.integers(1, 2),
    bidirectional=st.booleans(),
)
def test_segments_and_padding_never_change_the_loss(
    docs: list[list[int]], bptt: int, cell: str, layers: int, bidirectional: bool, device: str
) -> None:
    """Carried state makes `bptt` segments read a document exactly as one pass does, and
    each document's loss is the same alone as in any padded batch (on CUDA too, where the
    packed recurrence is cuDNN's)."""
    model = _lm(cell, layers, bidirectional).to(device)
    whole, tokens = _loss(model, docs, 10_000)
    assert tokens == (2 if bidirectional else 1) * sum(len(d) - 1 for d in docs)
    segmented, same_tokens = _loss(model, docs, bptt)
    alone = sum(_loss(model, [d], bptt)[0] for d in docs)
    assert same_tokens == tokens
    np.testing.assert_allclose(segmented, whole, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(alone, whole, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_each_classifier_direction_starts_as_its_pretrained_language_model(cell: str) -> None:
    """Zeroed cross-direction input halves: the classifier's stacked BiRNN computes, in each
    direction, what that direction's language model computed."""
    model = _lm(cell, 3, True)
    with torch.no_grad():  # give the cross halves values an unzeroed copy would keep
        for p in model.rnn.parameters():
            p.normal_()
    config = model.config
    classifier = SequenceClassifier(config).eval()
    classifier.load_state_dict(model.encoder_state(), strict=False)
    ids = torch.randint(2, 50, (1, 17))
    out, _ = classifier.rnn(classifier.embedding(ids))
    hidden = config.hidden_size
    for direction, suffix in enumerate(["", "_reverse"]):
        # One direction alone: a unidirectional stack over its own half of each layer.
        alone = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        stack = alone(8, hidden, num_layers=3, batch_first=True)
        with torch.no_grad():
            for layer in range(3):
                w = getattr(model.rnn, f"weight_ih_l{layer}{suffix}")
                if layer:
                    w = w[:, :hidden] if direction == 0 else w[:, hidden:]
                getattr(stack, f"weight_ih_l{layer}").copy_(w)
                for name in ("weight_hh", "bias_ih", "bias_hh"):
                    src = getattr(model.rnn, f"{name}_l{layer}{suffix}")
                    getattr(stack, f"{name}_l{layer}").copy_(src)
        x = classifier.embedding(ids if direction == 0 else ids.flip(1))
        expected, _ = stack(x)
        if direction:
            expected = expected.flip(1)
        got = out[..., direction * hidden : (direction + 1) * hidden]
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_train_refuses_an_encoder_folder_without_an_encoder(
    pretrained: Params, small_corpus: Path, tmp_path: Path
) -> None:
    """A pretrain run with pretrain.enabled false leaves only a manifest: train must not
    start from it as if it were an encoder, nor quietly start from scratch."""
    shutil.copytree(pretrained.base.workspace / "data/tokens", tmp_path / "data/tokens")
    off = tiny_params(tmp_path, small_corpus)
    assert not run_stage("pretrain", off).enabled
    on = tiny_params(tmp_path, small_corpus, "train.init_from=models/main.encoder")
    with pytest.raises(DoclstmError, match=r"pretrain\.enabled false"):
        run_stage("train", on)


def test_a_held_out_share_that_leaves_nothing_out_is_refused(
    pretrained: Params, small_corpus: Path, tmp_path: Path
) -> None:
    shutil.copytree(pretrained.base.workspace / "data/tokens", tmp_path / "data/tokens")
    params = tiny_params(tmp_path, small_corpus, *PRETRAIN, "pretrain.held_out_fraction=1e-9")
    with pytest.raises(DoclstmError, match="held_out_fraction"):
        run_stage("pretrain", params)
