"""Temperature scaling: the fitted temperature is the one the data was drawn with, it
never moves a prediction, never raises val log loss, and every probability the model
gives is divided by it; a model folder saved before calibration predicts as it did."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from doclstm.models.config import ModelConfig
from doclstm.models.inference import predict_probabilities
from doclstm.models.loss import probabilities
from doclstm.models.model import SequenceClassifier, legacy_state
from doclstm.storage.token_data import TokenSplit, offsets_of
from doclstm.training.calibration import (
    calibrate,
    calibration_summary,
    fit_temperature,
    log_loss_at,
    logits_of,
)


def _drawn(temperature: float, classes: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits, and labels drawn from softmax(logits / temperature)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, size=(n, classes))
    if classes == 1:
        p = 1 / (1 + np.exp(-logits[:, 0] / temperature))
        return logits, (rng.random(n) < p).astype(np.int64)
    probs = torch.softmax(torch.as_tensor(logits / temperature), 1).numpy()
    labels = np.array([rng.choice(classes, p=row) for row in probs], dtype=np.int64)
    return logits, labels


def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with() -> None:
    for truth, classes in ((2.5, 4), (0.4, 3), (1.7, 1)):
        logits, labels = _drawn(truth, classes, 20_000, seed=1)
        assert abs(fit_temperature(logits, labels) - truth) < 0.1 * truth


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 5),
    st.integers(2, 60),
    st.floats(0.2, 5.0),
    st.integers(0, 2**16),
)
def test_scaling_keeps_every_prediction_and_never_raises_val_log_loss(
    classes: int, n: int, truth: float, seed: int
) -> None:
    logits, labels = _drawn(truth, classes, n, seed)
    temperature = fit_temperature(logits, labels)
    assert temperature > 0
    before = probabilities(torch.as_tensor(logits)).argmax(1)
    after = probabilities(torch.as_tensor(logits) / temperature).argmax(1)
    assert torch.equal(before, after)
    assert log_loss_at(logits, labels, temperature) <= log_loss_at(logits, labels, 1.0) + 1e-9
    summary = calibration_summary(logits, labels, temperature)
    assert summary["val_log_loss_after"] <= summary["val_log_loss_before"] + 1e-9


def test_logits_of_probabilities_give_the_probabilities_back() -> None:
    logits, _ = _drawn(1.0, 3, 50, seed=2)
    probs = probabilities(torch.as_tensor(logits)).numpy()
    again = probabilities(torch.as_tensor(logits_of(probs, 3))).numpy()
    np.testing.assert_allclose(again, probs, atol=1e-6)
    binary = np.random.default_rng(3).normal(0, 2, size=(50, 1))  # float32 probabilities
    probs = probabilities(torch.as_tensor(binary)).numpy()
    np.testing.assert_allclose(logits_of(probs, 1), binary, atol=1e-3)


def _model_and_val() -> tuple[SequenceClassifier, TokenSplit]:
    torch.manual_seed(0)
    config = ModelConfig.build(30, 3, embedding_dim=8, hidden_size=6, bag_buckets=0)
    model = SequenceClassifier(config)
    with torch.no_grad():  # confident and often wrong: a temperature well above 1 fits
        model.head.weight.mul_(40)
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 12, size=80)
    split = TokenSplit(
        [f"d{i}" for i in range(80)],
        rng.integers(0, 3, size=80),
        rng.integers(1, 30, size=int(lengths.sum())).astype(np.int32),
        offsets_of(lengths),
    )
    return model, split


def test_calibrate_sets_the_temperature_that_every_probability_divides_by() -> None:
    model, val = _model_and_val()
    raw = predict_probabilities(model, val.sequences, 4096)
    # Right on 70% of the documents, at near-certain confidence: T well above 1 fits.
    wrong = np.random.default_rng(1).random(len(val)) < 0.3
    val.label_ids[:] = np.where(wrong, (raw.argmax(1) + 1) % 3, raw.argmax(1))
    summary = calibrate(model, val, 4096, torch.device("cpu"))
    assert float(model.temperature) == pytest.approx(summary["temperature"], rel=1e-6)
    assert 1.5 < summary["temperature"] < 19
    assert summary["val_log_loss_after"] < summary["val_log_loss_before"]
    scaled = predict_probabilities(model, val.sequences, 4096)
    np.testing.assert_array_equal(scaled.argmax(1), raw.argmax(1))
    assert scaled.max(1).mean() < raw.max(1).mean()  # less sure, as it should be
    expected = probabilities(torch.as_tensor(logits_of(raw, 3)) / summary["temperature"])
    np.testing.assert_allclose(scaled, expected.numpy(), atol=1e-5)


def test_a_state_saved_before_calibration_loads_with_temperature_one() -> None:
    model, _ = _model_and_val()
    old = {k: v for k, v in model.state_dict().items() if k != "temperature"}
    model.temperature.fill_(3.0)
    model.load_state_dict(legacy_state(old), strict=True)
    assert float(model.temperature) == 1.0


def test_several_labels_a_document_fit_the_temperature_they_were_drawn_with() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 3, size=(8_000, 5))
    for truth in (0.5, 2.0):
        targets = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits / truth))).astype(np.float32)
        assert abs(fit_temperature(logits, targets) - truth) < 0.1 * truth
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.as_tensor(logits / truth), torch.as_tensor(targets, dtype=torch.float64)
        )
        assert log_loss_at(logits, targets, truth) == pytest.approx(5 * float(bce), rel=1e-9)
    probs = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(logits_of(probs, 5, multi_label=True), logits, atol=1e-6)
