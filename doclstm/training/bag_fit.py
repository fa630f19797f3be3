"""Fitting the token bag (doclstm/models/bag.py) as a converged logistic regression.

A linear model over sparse n-grams is convex: fitted to its optimum with an
L2 penalty it is the TF-IDF + logistic-regression baseline users compare us
with, which an early-stopped first-order optimiser shared with the RNN does
not reach. So the classifier's training (`doclstm.training.trainer.fit`) does
what that baseline does, around the RNN's epochs:

1. `fit_bag`: the idf from train; then, for each C in `C_GRID` (the inverse
   penalty strength, as in scikit-learn: C * summed log loss + |W|^2 / 2),
   full-batch L-BFGS on train from the previous C's optimum; the C with the
   best val accuracy (ties: lower val log loss) is kept and the bag frozen.
   With several labels a document it is one-vs-rest: a logistic regression a
   label (their objectives summed, which leaves each label's optimum its own),
   judged by micro-F1 (each label at its best threshold on val) where a single
   label is by accuracy.
   The RNN then trains on its own loss, its epochs judged by its own val
   score (with the bag in it, an untrained RNN can look best).
2. `choose_rnn_share`: with the RNN's best epoch loaded, the share of the RNN
   in the summed logits (`RNN_SHARES`, the bag gets the rest) with the
   lowest val log loss (smoother than accuracy on a few hundred documents;
   ties: nearer an even share), unless `train.model.rnn_share` fixes it.
   The trainer then fits the model's temperature on val (calibration.py), before
   val is trained on.
3. `finish_bag`: the idf and the bag again on train + val at the chosen C, as
   the baseline is refitted; test data is never seen. The training history's
   val metrics are the RNN's alone; the train summary has the val scores of
   every share, all measured before val was trained on.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from doclstm.evaluation.metrics import macro_f1
from doclstm.evaluation.multilabel_metrics import tuned_f1_scores
from doclstm.models.bag import TokenBag, smooth_idf, tfidf, word_ngrams
from doclstm.models.inference import predict_probabilities
from doclstm.models.loss import ClassificationLoss, probabilities
from doclstm.models.model import SequenceClassifier
from doclstm.storage.token_data import TokenSplit, concat_splits
from doclstm.text.batching import pad_batch
from doclstm.training.calibration import logits_of

C_GRID = (1.0, 4.0, 16.0, 64.0)
RNN_SHARES = tuple(i / 10 for i in range(11))  # the RNN's share; the bag's is 1 - it
_DOCUMENTS_PER_PASS = 256
_MAX_ITERATIONS = 300


@dataclass(frozen=True)
class BagFit:
    """What fitting the bag chose and measured; recorded in the train summary."""

    c: float
    val_accuracy_by_c: dict[str, float]
    rnn_share: float = 0.5
    val_accuracy_by_rnn_share: dict[str, float] | None = None
    val_log_loss_by_rnn_share: dict[str, float] | None = None
    val_macro_f1_by_rnn_share: dict[str, float] | None = None
    refit_documents: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def fit_bag(bag: TokenBag, train: TokenSplit, val: TokenSplit) -> BagFit:
    """Fit `bag` on `train` at the C of `C_GRID` best on `val`, then freeze it."""
    started = time.perf_counter()
    train_rows = _ngrams(bag, train.sequences)
    bag.idf.copy_(smooth_idf(*train_rows, bag.buckets))
    x_train = _design(bag, train_rows, len(train))
    x_val = _design(bag, _ngrams(bag, val.sequences), len(val))
    y_train, y_val = _labels(train, bag), _labels(val, bag)
    scores: dict[float, tuple[float, float]] = {}
    solutions = {}
    for c in C_GRID:  # weakest penalty last, each from the previous optimum
        _lbfgs(bag, x_train, y_train, c)
        logits = _logits(bag, x_val)
        scores[c] = (_accuracy(logits, y_val), _log_loss(logits, y_val))
        solutions[c] = (bag.weights.weight.detach().clone(), bag.bias.detach().clone())
    best = min(C_GRID, key=lambda c: (-scores[c][0], scores[c][1]))
    with torch.no_grad():
        bag.weights.weight.copy_(solutions[best][0])
        bag.bias.copy_(solutions[best][1])
    bag.requires_grad_(False)
    return BagFit(
        c=best,
        val_accuracy_by_c={f"{c:g}": round(scores[c][0], 4) for c in C_GRID},
        seconds=time.perf_counter() - started,
    )


def choose_rnn_share(
    model: SequenceClassifier,
    fitted: BagFit,
    val: TokenSplit,
    batch_tokens: int,
    device: torch.device,
) -> BagFit:
    """Step 2 on `model` (its best epoch loaded): the RNN's share picked on `val` and set
    in its `expert_weights`."""
    assert model.bag is not None
    started = time.perf_counter()
    # The RNN alone through the scoring path (its log-probabilities); the bag's logits from
    # its own sparse rows, without running the RNN a second time.
    model.expert_weights.copy_(torch.tensor([1.0, 0.0]))
    probs = predict_probabilities(model, val.sequences, batch_tokens, device)
    rnn = logits_of(probs, model.config.num_outputs, model.config.multi_label)
    bag = _logits(model.bag, _design(model.bag, _ngrams(model.bag, val.sequences), len(val)))
    share, accuracy, log_loss, f1 = pick_rnn_share(
        rnn, bag.cpu().numpy(), np.asarray(val.label_ids)
    )
    if model.config.rnn_share != "auto":
        share = float(model.config.rnn_share)
    model.expert_weights.copy_(torch.tensor([share, 1 - share]))
    return replace(
        fitted,
        rnn_share=share,
        val_accuracy_by_rnn_share=accuracy,
        val_log_loss_by_rnn_share=log_loss,
        val_macro_f1_by_rnn_share=f1,
        seconds=fitted.seconds + time.perf_counter() - started,
    )


def finish_bag(
    model: SequenceClassifier, fitted: BagFit, train: TokenSplit, val: TokenSplit
) -> BagFit:
    """Step 3 on `model`: the bag refitted on `train` + `val` at the C chosen on val."""
    assert model.bag is not None
    started = time.perf_counter()
    documents = refit_bag(model.bag, (train, val), fitted.c)
    return replace(
        fitted,
        refit_documents=documents,
        seconds=fitted.seconds + time.perf_counter() - started,
    )


def pick_rnn_share(
    rnn_logits: np.ndarray, bag_logits: np.ndarray, labels: np.ndarray
) -> tuple[float, dict[str, float], dict[str, float], dict[str, float]]:
    """The RNN's share of the summed logits with the lowest log loss on these (val)
    documents, and the accuracy, log loss and macro-F1 of every share in `RNN_SHARES`."""
    y = torch.as_tensor(labels)
    scores = {}
    for w in RNN_SHARES:
        mixed = torch.as_tensor(w * rnn_logits + (1 - w) * bag_logits)
        scores[w] = (_accuracy(mixed, y), _log_loss(mixed, y), _macro_f1(mixed, y))
    best = min(RNN_SHARES, key=lambda w: (scores[w][1], abs(w - 0.5)))
    accuracy, log_loss, f1 = ({f"{w:g}": round(scores[w][i], 4) for w in RNN_SHARES}
                              for i in range(3))  # fmt: skip
    return best, accuracy, log_loss, f1


def refit_bag(bag: TokenBag, splits: Sequence[TokenSplit], c: float) -> int:
    """Fit `bag` again, idf included, on all of `splits` at `c`; the documents it read."""
    data = concat_splits(list(splits))
    rows = _ngrams(bag, data.sequences)
    bag.idf.copy_(smooth_idf(*rows, bag.buckets))
    _lbfgs(bag, _design(bag, rows, len(data)), _labels(data, bag), c)
    return len(data)


def _ngrams(bag: TokenBag, sequences: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(document index, bucket) over all `sequences`, a few hundred documents at a time."""
    device = bag.idf.device
    docs, buckets = [], []
    for start in range(0, len(sequences), _DOCUMENTS_PER_PASS):
        ids, lengths = pad_batch(list(sequences[start : start + _DOCUMENTS_PER_PASS]))
        doc, bucket = word_ngrams(ids.to(device), lengths, bag.tables(), bag.buckets)
        docs.append(doc + start)
        buckets.append(bucket)
    empty = torch.zeros(0, dtype=torch.long, device=device)
    return torch.cat(docs) if docs else empty, torch.cat(buckets) if buckets else empty


@dataclass(frozen=True)
class _Design:
    """A (documents, buckets) sparse TF-IDF matrix and its transpose, both CSR."""

    x: torch.Tensor
    xt: torch.Tensor


def _design(bag: TokenBag, rows: tuple[torch.Tensor, torch.Tensor], documents: int) -> _Design:
    """The TF-IDF matrix of these n-grams under the bag's current idf."""
    row, column, weight, _ = tfidf(*rows, documents, bag.idf)
    x = torch.sparse_coo_tensor(
        torch.stack((row, column)), weight, (documents, bag.buckets), check_invariants=False
    )
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return _Design(x.coalesce().to_sparse_csr(), x.t().coalesce().to_sparse_csr())


def _labels(split: TokenSplit, bag: TokenBag) -> torch.Tensor:
    """Label ids (long), or for several labels a document the 0/1 matrix (float)."""
    dtype = torch.float32 if split.multi_label else torch.long
    return torch.as_tensor(np.asarray(split.label_ids), dtype=dtype, device=bag.idf.device)


def _logits(bag: TokenBag, x: _Design) -> torch.Tensor:
    with torch.no_grad():
        return torch.sparse.mm(x.x, bag.weights.weight) + bag.bias


def _loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean log loss; one logit is the binary case (positive class 1)."""
    return ClassificationLoss(logits.size(1))(logits, y)


def _lbfgs(bag: TokenBag, x: _Design, y: torch.Tensor, c: float) -> None:
    """Minimise mean log loss + |W|^2 / (2 C n), scikit-learn's objective over n, with
    the gradient in closed form (X^T (p - y) / n + W / (C n)): no autograd through the
    sparse product, whose backward transposes X at every step."""
    weight, bias = bag.weights.weight, bag.bias
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=_MAX_ITERATIONS,
        tolerance_grad=1e-6,
        tolerance_change=1e-10,
        history_size=20,
        line_search_fn="strong_wolfe",
    )
    n = max(len(y), 1)
    penalty = 1.0 / (2.0 * c * n)
    sigmoid = y.dim() == 2 or weight.size(1) == 1  # one-vs-rest, or the binary logit
    if y.dim() == 2:
        target = y
    elif weight.size(1) == 1:
        target = y.float()[:, None]
    else:
        target = torch.nn.functional.one_hot(y, weight.size(1)).float()

    def closure() -> torch.Tensor:
        logits = _logits(bag, x)
        probs = torch.sigmoid(logits) if sigmoid else torch.softmax(logits, 1)
        residual = (probs - target) / n
        weight.grad = torch.sparse.mm(x.xt, residual) + 2 * penalty * weight.detach()
        bias.grad = residual.sum(0)
        return _loss(logits, y) + penalty * weight.detach().pow(2).sum()

    optimizer.step(closure)
    weight.grad, bias.grad = None, None


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy; with several labels a document, micro-F1 with each label at its best
    threshold on these documents (as the model's are tuned on val)."""
    if not len(y):
        return 0.0
    if y.dim() == 2:
        probs = torch.sigmoid(logits.float()).cpu().numpy()
        return tuned_f1_scores(y.cpu().numpy() > 0, probs)["micro_f1"]
    return float((probabilities(logits).argmax(1) == y).float().mean())


def _macro_f1(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Macro-F1; with several labels a document, each label at its best threshold."""
    if not len(y):
        return 0.0
    if y.dim() == 2:
        sigmoid = torch.sigmoid(logits.float()).cpu().numpy()
        return tuned_f1_scores(y.cpu().numpy() > 0, sigmoid)["macro_f1"]
    probs = probabilities(logits)
    return macro_f1(y.cpu().numpy(), probs.argmax(1).cpu().numpy(), probs.shape[1])


def _log_loss(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float(_loss(logits.float(), y)) if len(y) else 0.0
