"""The optimizer step: ULMFiT's discriminative rates and gradual unfreezing through the
schedule, and its precision (bf16 autocast on the CPU too)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from doclstm.config.params import load_params
from doclstm.errors import DoclstmError
from doclstm.models import device
from doclstm.models.config import ModelConfig
from doclstm.models.device import native_bf16, warn_if_bf16_is_emulated
from doclstm.models.model import SequenceClassifier
from doclstm.training.objectives import ClassifierObjective
from doclstm.training.optimization import Optimization, layer_groups

STEPS_PER_EPOCH = 3


def _classifier() -> SequenceClassifier:
    torch.manual_seed(0)
    config = ModelConfig.build(
        40,
        3,
        embedding_dim=8,
        hidden_size=6,
        num_layers=2,
        pooling="max",
        dropout=0.3,
        bag_buckets=0,
    )
    return SequenceClassifier(config)


def _optimization(model: SequenceClassifier, *overrides: str) -> Optimization:
    params = load_params(None, ["train.epochs=4", "train.warmup_fraction=0", *overrides]).train
    labels = torch.zeros(1, dtype=torch.long).numpy()
    objective = ClassifierObjective.build(3, ["a", "b", "c"], params, labels, torch.device("cpu"))
    return Optimization.build(model, model, params, objective, STEPS_PER_EPOCH, torch.device("cpu"))


def test_groups_run_from_the_head_down_to_the_embedding() -> None:
    model = _classifier()
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [sorted(names[id(p)] for p in g) for g in layer_groups(model)]
    assert groups[0] == ["head.bias", "head.weight"]
    assert all(n.endswith(("_l1", "_l1_reverse")) for n in groups[1]) and len(groups[1]) == 8
    assert all(n.endswith(("_l0", "_l0_reverse")) for n in groups[2]) and len(groups[2]) == 8
    assert groups[3] == ["encoder.embedding.weight"]
    assert sum(map(len, groups)) == len(names)


def test_gradual_unfreezing_and_decay_set_each_groups_rate_by_epoch() -> None:
    model = _classifier()
    opt = _optimization(model, "train.unfreeze=gradual", "train.layer_lr_decay=2.0")
    peak = opt.optimizer.param_groups[0]["initial_lr"]
    for step in range(4 * STEPS_PER_EPOCH):
        epoch = step // STEPS_PER_EPOCH + 1
        rates = [g["lr"] for g in opt.optimizer.param_groups]
        top = rates[0] / peak  # the schedule's factor at this step
        for depth, rate in enumerate(rates):
            expected = peak * top / 2.0**depth if depth < epoch else 0.0
            assert rate == pytest.approx(expected), (step, depth)
        opt.optimizer.step()  # no gradients: changes nothing, keeps the call order
        opt.scheduler.step()


def test_frozen_groups_do_not_move_in_the_first_epoch() -> None:
    model = _classifier()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = _optimization(model, "train.unfreeze=gradual")
    ids = torch.randint(2, 40, (4, 9))
    lengths = torch.tensor([9, 5, 3, 1])
    for _ in range(STEPS_PER_EPOCH):
        opt.step(ids, lengths, torch.tensor([0, 1, 2, 0]))
    for name, param in model.named_parameters():
        moved = not torch.equal(param, before[name])
        assert moved == name.startswith("head."), name


def test_gradual_unfreezing_needs_the_stepwise_schedule() -> None:
    with pytest.raises(DoclstmError, match="warmup_cosine"):
        _optimization(_classifier(), "train.unfreeze=gradual", "train.schedule=one_cycle")


def test_bf16_on_the_cpu_runs_the_recurrence_in_bf16_and_tracks_fp32() -> None:
    ids = torch.randint(2, 40, (4, 9), generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([9, 5, 3, 1])
    labels = torch.tensor([0, 1, 2, 0])
    dtypes: list[torch.dtype] = []  # what the recurrence hands the head (padded-exact path)
    losses = {}
    for precision in ("fp32", "bf16"):
        model = _classifier()
        model.head.register_forward_hook(lambda _m, inputs, _o: dtypes.append(inputs[0].dtype))
        opt = _optimization(model, f"train.precision={precision}", "train.learning_rate=0.05")
        losses[precision] = [opt.step(ids, lengths, labels).detach().item() for _ in range(12)]
        assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights
    assert dtypes == [torch.float32] * 12 + [torch.bfloat16] * 12
    assert losses["fp32"][-1] < 0.75 * losses["fp32"][0]
    assert losses["bf16"] == pytest.approx(losses["fp32"], abs=0.05)


def test_fp16_stays_cuda_only() -> None:
    with pytest.raises(DoclstmError, match="fp16 needs CUDA"):
        _optimization(_classifier(), "train.precision=fp16")


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="reads Linux's CPU flags")
def test_bf16_hardware_is_what_the_cpu_flags_say() -> None:
    flags = set(Path("/proc/cpuinfo").read_text().split())
    assert native_bf16(torch.device("cpu")) == bool(flags & {"amx_tile", "avx512_bf16"})


def test_emulated_bf16_is_named_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(device, "native_bf16", lambda _device: False)  # a CPU without AMX
    warn_if_bf16_is_emulated.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="doclstm.models.device"):
            for _ in range(2):
                _optimization(_classifier(), "train.precision=bf16")
    finally:
        warn_if_bf16_is_emulated.cache_clear()
    assert [r.getMessage() for r in caplog.records] == [
        "train.precision is bf16 on cpu, which has no bf16 hardware (AMX or AVX512-BF16 on "
        "a CPU, Ampere or later on a GPU): torch emulates it, expect it slower than fp32"
    ]
