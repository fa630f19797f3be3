"""The classifier's parts, each on its own: the pooling, the window recurrence, the head,
and the builder that composes them from the settings."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.config.params import load_params
from doclstm.models.config import ModelConfig
from doclstm.models.heads import LogitHead
from doclstm.models.language_model import EncoderLanguageModel
from doclstm.models.model import LEGACY_PREFIXES, SequenceClassifier, legacy_state
from doclstm.models.pooling import POOLINGS, Pooling
from doclstm.models.window_recurrence import WindowRecurrence


def _config(labels: int = 3, *overrides: str) -> ModelConfig:
    settings_ = [
        "train.model.embedding_dim=8",
        "train.model.hidden_size=6",
        "train.model.embedding_init=random",
        "train.model.bag_buckets=64",
        *overrides,
    ]
    return ModelConfig.build(50, labels, load_params(None, settings_).train.model)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(POOLINGS),
    lengths=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_pooling_never_reads_past_a_length(kind: str, lengths: list[int], seed: int) -> None:
    torch.manual_seed(seed)
    pooling = Pooling(kind, width=4, hidden_size=3).eval()
    steps = torch.randn(len(lengths), max(lengths) + 2, 4)
    last = torch.randn(len(lengths), 4)
    length = torch.tensor(lengths)
    pooled = pooling(steps, last, length)
    assert pooled.shape == (len(lengths), pooling.width)
    garbage = steps.clone()
    for row, n in enumerate(lengths):
        garbage[row, n:] = torch.randn(garbage.size(1) - n, 4) * 100
    torch.testing.assert_close(pooling(garbage, last, length), pooled)


def test_pooling_widths_and_an_unknown_kind() -> None:
    assert [Pooling(k, 4, 3).width for k in POOLINGS] == [4, 4, 4, 4, 12]
    assert [name for name, _ in Pooling("attention", 4, 3).named_parameters()]
    assert not list(Pooling("max", 4, 3).parameters())
    with pytest.raises(ValueError, match="unknown pooling"):
        Pooling("median", 4, 3)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_window_recurrence_reads_each_document_alone(bidirectional: bool) -> None:
    torch.manual_seed(0)
    config = _config(3, f"train.model.bidirectional={str(bidirectional).lower()}")
    recurrence = WindowRecurrence.of_model(config, window_width=5).eval()
    counts = torch.tensor([3, 1, 2])
    vectors = torch.randn(int(counts.sum()), 5)
    together = recurrence(vectors, counts)
    alone = [
        recurrence(part, torch.tensor([len(part)])) for part in torch.split(vectors, [3, 1, 2])
    ]
    torch.testing.assert_close(together, torch.cat(alone))
    assert together.shape == (3, recurrence.width)


def test_the_head_gives_one_logit_for_two_labels_and_one_per_label_from_three() -> None:
    for labels, outputs in ((2, 1), (3, 3), (7, 7)):
        head = SequenceClassifier(_config(labels)).head
        assert isinstance(head, LogitHead) and head.out_features == outputs


def test_the_builder_composes_the_parts_the_settings_name() -> None:
    flat = SequenceClassifier(_config())
    assert flat.encoder is not None and flat.windows is None and flat.bag is not None
    assert {name.split(".")[0] for name, _ in flat.named_parameters()} == {
        "encoder", "head", "bag"
    }  # fmt: skip
    attention = SequenceClassifier(_config(3, "train.model.pooling=attention"))
    assert any(n.startswith("pooling.attention.") for n, _ in attention.named_parameters())
    windows = SequenceClassifier(
        _config(3, "train.model.kind=hierarchical", "train.model.bag_buckets=0")
    )
    assert windows.windows is not None and windows.bag is None
    assert not hasattr(windows, "expert_weights")


def test_a_pretrained_encoder_state_is_the_encoder_part_s_own() -> None:
    config = _config()
    lm_state = EncoderLanguageModel(config).encoder_state()
    classifier = SequenceClassifier(config)
    assert classifier.encoder is not None
    assert set(classifier.encoder.state_dict()) == set(lm_state)


def test_weights_saved_by_a_flat_module_load_into_the_parts() -> None:
    """The names a model folder saved before the classifier had parts are renamed, and a
    state saved by parts is left as it is."""
    torch.manual_seed(3)
    config = _config(3, "train.model.kind=hierarchical", "train.model.pooling=attention")
    model = SequenceClassifier(config)
    state = model.state_dict()
    flat = {}
    for name, tensor in state.items():
        new = next((p for p in LEGACY_PREFIXES.values() if name.startswith(p)), None)
        old = next((o for o, n in LEGACY_PREFIXES.items() if n == new), None)
        flat[old + name.removeprefix(new) if new else name] = tensor
    assert set(flat) != set(state) and "doc_rnn.weight_ih_l0" in flat
    assert legacy_state(flat).keys() == state.keys()
    assert legacy_state(state).keys() == state.keys()
    again = SequenceClassifier(config)
    again.load_state_dict(legacy_state(flat), strict=True)
    for name, tensor in again.state_dict().items():
        torch.testing.assert_close(tensor, state[name], rtol=0, atol=0)
