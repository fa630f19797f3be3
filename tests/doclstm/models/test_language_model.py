"""The pretraining language model itself: segments, padding, directions, a training step
on every device. Needs no workspace, so a GPU machine with only torch runs it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.models.config import ModelConfig
from doclstm.models.language_model import EncoderLanguageModel, segment_starts
from doclstm.models.model import SequenceClassifier
from tests.devices import DEVICES


def _lm(cell: str, layers: int, bidirectional: bool) -> EncoderLanguageModel:
    torch.manual_seed(0)
    config = ModelConfig.build(
        vocab_size=50,
        num_labels=2,
        bag_buckets=0,  # the language model pretrains the RNN's encoder alone
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
    assert classifier.encoder is not None
    classifier.encoder.load_state_dict(model.encoder_state())
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


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_training_step_reaches_every_encoder_weight(
    device: str, precision: str, cell: str
) -> None:
    """Forward in training mode over two carried segments with the sampled softmax, then
    backward: every weight gets a finite gradient, the cross-direction input halves none.
    On CUDA this is cuDNN's recurrence, which keeps what backward needs only in training
    mode, under autocast at each precision."""
    if precision == "fp16" and device == "cpu":
        pytest.skip("fp16 autocast is CUDA only in the trainer")
    model = _lm(cell, 2, True).to(device).train()
    lengths = torch.tensor([9, 5, 1])
    ids = torch.randint(2, 50, (3, 9), device=device)
    streams, state = model.streams(ids, lengths), None
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    for start in segment_starts(lengths, 4):
        with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            nll, _, state = model(streams, lengths, start, 4, state, samples=8)
        assert torch.isfinite(nll)
        nll.backward()
    hidden = model.config.hidden_size
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        if name == "rnn.weight_ih_l1":
            assert param.grad[:, :hidden].abs().sum() > 0
            assert not param.grad[:, hidden:].any(), "forward LM read the backward half"
        elif name == "rnn.weight_ih_l1_reverse":
            assert not param.grad[:, :hidden].any(), "backward LM read the forward half"
        else:
            assert param.grad.abs().sum() > 0, name
