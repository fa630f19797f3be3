"""The one direct call of torch's RNN kernel computes what nn.LSTM / nn.GRU compute with
the same weights: each direction of each layer, outputs and final state, in train and
eval mode (a torch upgrade that changes the kernel's signature fails here)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from doclstm.models.rnn_kernel import run_direction


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("train", [False, True])
def test_one_direction_equals_the_public_module_on_its_weights(cell: str, train: bool) -> None:
    torch.manual_seed(0)
    module = (nn.LSTM if cell == "lstm" else nn.GRU)(
        7, 5, num_layers=2, batch_first=True, bidirectional=True
    )
    module.train(train)
    x = torch.randn(3, 11, 7)
    expected, hidden = module(x)
    h_n = hidden[0] if isinstance(hidden, tuple) else hidden
    layer_input = x
    for layer in range(2):
        outputs = []
        for direction, suffix in enumerate(("", "_reverse")):
            weights = [
                getattr(module, f"{name}_l{layer}{suffix}")
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            steps = layer_input.flip(1) if suffix else layer_input
            out, state = run_direction(cell, steps, weights, train=train)
            outputs.append(out.flip(1) if suffix else out)
            torch.testing.assert_close(state[0][0], h_n[2 * layer + direction])
        layer_input = torch.cat(outputs, 2)
    torch.testing.assert_close(layer_input, expected)


def test_a_given_state_is_where_the_direction_starts() -> None:
    torch.manual_seed(1)
    module = nn.GRU(4, 6, batch_first=True)
    x, h0 = torch.randn(2, 5, 4), torch.randn(1, 2, 6)
    expected, h_n = module(x, h0)
    weights = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
    out, (h,) = run_direction("gru", x, weights, (h0,))
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(h, h_n)
