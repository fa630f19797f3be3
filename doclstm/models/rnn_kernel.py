"""One layer of one direction of an LSTM or GRU, run with weights borrowed from a stacked,
bidirectional `nn.LSTM`/`nn.GRU`: what the padded-exact path of the classifier
(doclstm/models/model.py) and the language model (language_model.py) need.

The one use of `torch._VF` in doclstm, on purpose: it is the kernel `nn.LSTM.forward`
itself calls (cuDNN on CUDA), with the module's own weights and no copy, where a public
module would have to own (or be reparametrised with) each layer's weights at every call.
Its positional flags are named below, and tests/doclstm/models/test_rnn_kernel.py pins
its outputs to `nn.LSTM`/`nn.GRU`'s on the same weights, so a torch upgrade that
changes the signature fails there, not silently.
"""

from __future__ import annotations

import torch


def run_direction(
    cell: str,
    x: torch.Tensor,
    weights: list[torch.Tensor],
    state: tuple[torch.Tensor, ...] | None = None,
    train: bool = False,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Outputs (batch, time, hidden) and the final state of one layer, one direction, over
    batch-first `x`: `weights` are (weight_ih, weight_hh, bias_ih, bias_hh) of that layer
    and direction; `state` defaults to zeros. `train` must be the module's mode: cuDNN
    keeps what its backward pass needs only in training mode."""
    hidden = weights[1].size(1)
    if state is None:
        zeros = x.new_zeros(1, x.size(0), hidden)
        state = (zeros, zeros) if cell == "lstm" else (zeros,)
    # The kernel's positional flags, as nn.RNNBase passes them.
    has_biases, num_layers, dropout, bidirectional, batch_first = True, 1, 0.0, False, True
    flags = (has_biases, num_layers, dropout, train, bidirectional, batch_first)
    if cell == "lstm":
        out, h, c = torch._VF.lstm(x, state, weights, *flags)
        return out, (h, c)
    out, h = torch._VF.gru(x, state[0], weights, *flags)
    return out, (h,)
