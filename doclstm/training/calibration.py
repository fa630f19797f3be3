"""Temperature scaling (Guo et al. 2017): one scalar that makes confidences match accuracy.

A classifier's logits divided by a temperature T > 0 keep every prediction (the
argmax does not move) and change only how sure it says it is. T is fitted on
the val split after training, by the lowest val log loss: the negative log-
likelihood of softmax(z / T) is convex in 1 / T, so a golden-section search over
1 / T finds its minimum. The model keeps T as its `temperature` buffer (saved with
its weights; doclstm/training/trainer.py fits it); every path that turns logits
into probabilities divides by it (doclstm/models/inference.py), so evaluate, score,
predict and the pyfunc all report calibrated probabilities. With several labels a
document (2-D targets) the same T divides every label's logit, the log loss is the
labels' binary ones summed (the training loss), and the calibration error is each
label's probability against how often the label is there.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from doclstm.evaluation.metrics import calibration
from doclstm.evaluation.multilabel_metrics import label_calibration
from doclstm.models.inference import predict_probabilities
from doclstm.models.loss import probabilities
from doclstm.models.model import SequenceClassifier
from doclstm.storage.token_data import TokenSplit

log = logging.getLogger(__name__)
# 1 / T is searched in [1/20, 20]: wider than any fitted temperature we have measured.
_LOWEST_INVERSE, _HIGHEST_INVERSE = 0.05, 20.0
_STEPS = 60  # golden-section steps: the bracket shrinks to 1e-12 of its width


def logits_of(probs: np.ndarray, outputs: int, multi_label: bool = False) -> np.ndarray:
    """Logits with these softmax probabilities, up to a constant per row (which neither a
    softmax nor an argmax sees); one column in the binary case, as the model has. With
    `multi_label`, each label's own logit (the inverse of its sigmoid)."""
    if multi_label:
        p = np.clip(probs.astype(np.float64), 1e-15, 1 - 1e-15)
        return np.log(p) - np.log1p(-p)
    logs = np.log(np.clip(probs, 1e-30, None))
    return logs[:, 1:] - logs[:, :1] if outputs == 1 else logs


def log_loss_at(logits: np.ndarray, label_ids: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of `label_ids` under softmax(logits / temperature);
    one logit column is the binary case (sigmoid). With 2-D `label_ids` (several labels a
    document), the labels' binary log losses summed, averaged over the documents."""
    scaled = torch.as_tensor(logits, dtype=torch.float64) / temperature
    if label_ids.ndim == 2:
        target = torch.as_tensor(label_ids, dtype=torch.float64)
        losses = torch.nn.functional.binary_cross_entropy_with_logits(
            scaled, target, reduction="none"
        )
        return float(losses.sum(1).mean())
    probs = probabilities(scaled).double()
    picked = probs[torch.arange(len(label_ids)), torch.as_tensor(label_ids)]
    return float(-torch.log(picked.clamp_min(1e-300)).mean())


def fit_temperature(logits: np.ndarray, label_ids: np.ndarray) -> float:
    """The temperature with the lowest log loss of these (val) documents' logits; 1.0
    when there are none."""
    if len(label_ids) == 0:
        return 1.0
    ratio = (math.sqrt(5) - 1) / 2
    low, high = math.log(_LOWEST_INVERSE), math.log(_HIGHEST_INVERSE)

    def loss(log_inverse: float) -> float:
        return log_loss_at(logits, label_ids, math.exp(-log_inverse))

    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = loss(a), loss(b)
    for _ in range(_STEPS):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = loss(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = loss(b)
    return math.exp(-(low + high) / 2)


def calibration_summary(
    logits: np.ndarray, label_ids: np.ndarray, temperature: float
) -> dict[str, float]:
    """The val figures a training records: log loss and expected calibration error
    before (T = 1) and after scaling by `temperature`."""

    multi = label_ids.ndim == 2

    def ece(t: float) -> float:
        probs = probabilities(torch.as_tensor(logits, dtype=torch.float32) / t, multi).numpy()
        if multi:
            return float(label_calibration(label_ids > 0, probs)["ece"])
        return float(calibration(label_ids, probs)["ece"])

    return {
        "temperature": temperature,
        "val_log_loss_before": log_loss_at(logits, label_ids, 1.0),
        "val_log_loss_after": log_loss_at(logits, label_ids, temperature),
        "val_ece_before": ece(1.0),
        "val_ece_after": ece(temperature),
    }


def calibrate(
    model: SequenceClassifier, val: TokenSplit, batch_tokens: int, device: torch.device
) -> dict[str, float]:
    """Fit `model`'s temperature on `val` (as it predicts now, through the scoring path)
    and set it; returns `calibration_summary`."""
    model.temperature.fill_(1.0)
    probs = predict_probabilities(model, val.sequences, batch_tokens, device)
    logits = logits_of(probs, model.config.num_outputs, model.config.multi_label)
    temperature = fit_temperature(logits, val.label_ids)
    model.temperature.fill_(temperature)
    summary = calibration_summary(logits, val.label_ids, temperature)
    log.info(
        "train: temperature %.3f fitted on val: log loss %.4f -> %.4f, calibration error "
        "%.4f -> %.4f",
        temperature,
        summary["val_log_loss_before"],
        summary["val_log_loss_after"],
        summary["val_ece_before"],
        summary["val_ece_after"],
    )
    return summary
