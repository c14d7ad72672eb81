"""The speed path: a whole RNN/LSTM/GRU layer-direction as ONE graph node (minigrad's own cuDNN).
x (T, B, In), weights in PyTorch's layout, out (T, B, H); mask (T, B, 1) booleans, False = padding (state kept).
Second derivatives (create_graph=True): each node's `decompose` runs the teaching path's loop over the cell's
fine-grained step (RecurrentLayer.decompose in common.py), which the engine differentiates instead."""
# Forward runs the time loop inside the Function over preallocated buffers; backward is the vectorised
# hand-derived BPTT of models/bptt. Same numbers as the unrolled cells. On CuPy each step's gate math is one
# CUDA kernel forward and one backward (kernels.py).
from ... import backend
from ...tensor import Tensor
from .common import collect
from .gru import GRULayer
from .lstm import LSTMLayer
from .rnn import RNNLayer

__all__ = ["lstm_layer", "gru_layer", "rnn_layer", "LSTMLayer", "GRULayer", "RNNLayer"]


def lstm_layer(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None, h0: Tensor | None,
               c0: Tensor | None, reverse: bool = False, mask: backend.Array | None = None,
               w_hr: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """LSTM over all steps (gates i, f, g, o) -> (out (T, B, H), h_n (B, H), c_n (B, H)); with a projection
    w_hr (P, H): h_t = (o tanh(c_t)) W_hr^T, so out (T, B, P), h_n and h0 (B, P), w_hh (4H, P)."""
    inputs, names = collect(x=x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, h0=h0, c0=c0, w_hr=w_hr)
    return LSTMLayer(names, reverse, mask)(*inputs)


def gru_layer(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None, h0: Tensor | None,
              reverse: bool = False, mask: backend.Array | None = None) -> tuple[Tensor, Tensor]:
    """GRU over all steps (gates r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn))) -> (out, h_n)."""
    inputs, names = collect(x=x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, h0=h0)
    return GRULayer(names, reverse, mask)(*inputs)


def rnn_layer(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None, h0: Tensor | None,
              nonlinearity: str = "tanh", reverse: bool = False, mask: backend.Array | None = None
              ) -> tuple[Tensor, Tensor]:
    """Elman RNN over all steps, h_t = tanh or relu(x W_ih^T + b_ih + h W_hh^T + b_hh) -> (out, h_n)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_layer: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    inputs, names = collect(x=x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, h0=h0)
    return RNNLayer(names, reverse, mask, nonlinearity)(*inputs)
