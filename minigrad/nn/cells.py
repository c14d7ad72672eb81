"""Recurrent cells: one time step of an RNN, LSTM or GRU, at two levels of detail.

`fused=True` (the default) runs each step as one graph node with a hand-derived backward
(minigrad/ops/rnn_cells.py): fast. `fused=False` builds the step from ordinary ops, every gate its own
node: slower, but the graph shows the cell's inside and autograd derives its backward. Both compute
the same numbers (the tests hold them equal). PyTorch's conventions throughout: weight_ih (G*H, in),
weight_hh (G*H, H), gates i, f, g, o (LSTM) and r, z, n (GRU).

The step functions take `xw`, the input projection x W_ih^T + b_ih (plus b_hh for RNN and LSTM), which the
layers compute for all time steps at once. A state of None means zeros: the recurrent matmul is skipped.
"""
import math

from .. import factories, ops
from ..ops import rnn_cells
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def rnn_step(xw, h, w_hh, nonlinearity="tanh", fused=True, mask=None, weight_grad=True):
    """h' = tanh(xw + h W_hh^T)  (or relu).  weight_grad=False: W_hh's gradient is left to StepInputs."""
    if fused:
        return rnn_cells.RNNCell(nonlinearity, mask, weight_grad)(*((xw, w_hh) if h is None else (xw, w_hh, h)))
    a = xw if h is None else xw + F.linear(h, w_hh)
    h_new = a.tanh() if nonlinearity == "tanh" else a.relu()
    return h_new if mask is None else ops.where(mask, h_new, 0.0 if h is None else h)


def lstm_step(xw, state, w_hh, fused=True, mask=None, weight_grad=True, steps=None):
    """(h', c') with gates i, f, g, o = split(xw + h W_hh^T);  c' = f*c + i*g;  h' = o*tanh(c').
    steps: the layer's rnn_cells.LSTMSteps (fused only), where consecutive steps keep their activations."""
    if fused:
        cell = rnn_cells.LSTMCell(mask, weight_grad, steps)
        return cell(*((xw, w_hh) if state is None else (xw, w_hh) + tuple(state)))
    gates = xw if state is None else xw + F.linear(state[0], w_hh)
    i, f, g, o = gates.chunk(4, axis=-1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c = i * g if state is None else f * state[1] + i * g
    h = o * c.tanh()
    if mask is not None:
        h = ops.where(mask, h, 0.0 if state is None else state[0])
        c = ops.where(mask, c, 0.0 if state is None else state[1])
    return h, c


def gru_step(xw, h, w_hh, b_hh, fused=True, mask=None):
    """h' = (1-z)*n + z*h  with  r, z = sigmoid(xw_r,z + hw_r,z),  n = tanh(xw_n + r*hw_n),  hw = h W_hh^T + b_hh."""
    if fused:
        return rnn_cells.GRUCell(mask)(*((xw, b_hh) if h is None else (xw, b_hh, w_hh, h)))
    hw = b_hh if h is None else F.linear(h, w_hh, b_hh)
    x_r, x_z, x_n = xw.chunk(3, axis=-1)
    h_r, h_z, h_n = hw.chunk(3, axis=-1)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    h_new = (1 - z) * n if h is None else (1 - z) * n + z * h
    return h_new if mask is None else ops.where(mask, h_new, 0.0 if h is None else h)


def input_projection(x, w_ih, b_ih, b_hh, mode):
    """x W_ih^T + b_ih (+ b_hh, folded in for RNN and LSTM where it is a plain sum), for any leading axes: one node."""
    if b_ih is None:
        return F.linear(x, w_ih)
    return F.linear(x, w_ih, b_ih + b_hh if mode != "gru" else b_ih)


def zeros_bias(w_hh):
    """A constant zero b_hh for bias=False GRUs (the fused GRU step always takes one)."""
    return factories.zeros(w_hh.shape[0], dtype=w_hh.dtype, device=w_hh.device)


class _CellBase(Module):
    mode = None

    def __init__(self, input_size, hidden_size, bias=True, fused=True, device=None, dtype=None):
        super().__init__()
        G = GATES[self.mode]
        self.input_size, self.hidden_size, self.bias, self.fused = input_size, hidden_size, bias, fused
        self.weight_ih = Parameter(factories.zeros(G * hidden_size, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(factories.zeros(G * hidden_size, hidden_size, device=device, dtype=dtype))
        self.register_parameter("bias_ih", Parameter(factories.zeros(G * hidden_size, device=device, dtype=dtype)) if bias else None)
        self.register_parameter("bias_hh", Parameter(factories.zeros(G * hidden_size, device=device, dtype=dtype)) if bias else None)
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _check(self, x):
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},), got {x.shape}")

    def _xw(self, x):
        return input_projection(x, self.weight_ih, self.bias_ih, self.bias_hh, self.mode)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False") + \
               ("" if self.fused else ", fused=False")


def _batched(x, state):
    """Cells accept unbatched (features,) inputs like PyTorch: add the batch axis, remember to drop it."""
    return (x.unsqueeze(0), True) if x.ndim == 1 else (x, False)


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)  (nonlinearity='relu' for ReLU)."""
    mode = "rnn"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", fused=True, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, fused, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x, h=None):
        self._check(x)
        x, unbatched = _batched(x, h)
        h = h.unsqueeze(0) if unbatched and h is not None else h
        out = rnn_step(self._xw(x), h, self.weight_hh, self.nonlinearity, self.fused)
        return out.squeeze(0) if unbatched else out


class LSTMCell(_CellBase):
    """(h', c') = LSTM step of x from (h, c); the state defaults to zeros."""
    mode = "lstm"

    def forward(self, x, state=None):
        self._check(x)
        x, unbatched = _batched(x, state)
        if unbatched and state is not None:
            state = tuple(s.unsqueeze(0) for s in state)
        h, c = lstm_step(self._xw(x), state, self.weight_hh, self.fused)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_CellBase):
    """h' = GRU step of x from h; the state defaults to zeros."""
    mode = "gru"

    def forward(self, x, h=None):
        self._check(x)
        x, unbatched = _batched(x, h)
        h = h.unsqueeze(0) if unbatched and h is not None else h
        b_hh = self.bias_hh if self.bias_hh is not None else zeros_bias(self.weight_hh)
        out = gru_step(self._xw(x), h, self.weight_hh, b_hh, self.fused)
        return out.squeeze(0) if unbatched else out
