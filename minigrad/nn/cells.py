"""Recurrent cells: what one time step of an RNN, LSTM or GRU computes, as objects the time loop runs.

A cell is the math of one step, without weights of its own: the layer that runs it (minigrad/nn/rnn.py)
owns the parameters and hands them to every step. The protocol, which a user-written cell follows too:

    gates       G: weight_ih is (G*H, input_size), weight_hh (G*H, H)
    state_size  how many tensors the state has: 1 for (h,), 2 for the LSTM's (h, c); h comes first
    state_sizes(H) the width of each state tensor (all H unless a cell says otherwise: the LSTM with
                a projection has h of size P, c of size H); h's width is the layer's output width
    step(xw, state, w) -> new state (a tuple), on tensors: xw = this step's input projection
                the layer computed for all steps at once (`project`), w = the weights by name

`step` is written with ordinary ops, so every gate is a node and autograd derives the backward.
Built-in cells also have `fused_step` (one node per step, hand-derived backward: minigrad/ops/rnn_cells.py)
and `layer` (the whole sequence as one node, the speed path: minigrad/ops/rnn_layers/). Both nodes are
twice differentiable through `step`: their `decompose` runs it, so `create_graph=True` works on every path.
A custom cell's own fused_step node needs a Tensor-friendly backward or a decompose of its own for that.
Conventions (PyTorch's): gates i, f, g, o (LSTM) and r, z, n (GRU).
"""
from __future__ import annotations

from .. import factories
from ..ops import rnn_cells, rnn_layers
from ..tensor import Tensor
from . import functional as F

State = tuple  # the state of one step: a tuple of (B, H) tensors, h first


class Cell:
    """Base class of recurrent cells: override `step` (and `gates`, `state_size`, `name` as needed)."""
    name = None             # how pictures and messages call it ("MGU" -> "MGU cell"); None: the class name
    gates = 1
    state_size = 1
    fold_bias_hh = True     # b_hh joins the input projection (valid when h W_hh^T + b_hh is a plain sum)
    fused_step = None       # optional: the same step as one graph node

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") is None:
            cls.name = cls.__name__

    def parameter_shapes(self, input_size: int, hidden_size: int, bias: bool = True) -> dict[str, tuple[int, ...]]:
        """{name: shape} of the weights of one layer-direction (PyTorch's names and layout)."""
        G, H = self.gates, hidden_size
        shapes = {"weight_ih": (G * H, input_size), "weight_hh": (G * H, H)}
        if bias:
            shapes.update(bias_ih=(G * H,), bias_hh=(G * H,))
        return shapes

    def parameter_names(self) -> list[str]:
        """The names `parameter_shapes` gives, biases included: the keys of `w` in `step`."""
        return list(self.parameter_shapes(1, 1, True))

    def state_sizes(self, hidden_size: int) -> tuple[int, ...]:
        """The width of each state tensor; the first (h) is also the width of the layer's output."""
        return (hidden_size,) * self.state_size

    def project(self, x: Tensor, w: dict[str, Tensor | None]) -> Tensor:
        """x W_ih^T + b_ih (+ b_hh when folded) for any leading axes: all time steps in one matmul."""
        b_ih, b_hh = w.get("bias_ih"), w.get("bias_hh")
        if b_ih is not None and b_hh is not None and self.fold_bias_hh:
            b_ih = b_ih + b_hh
        return F.linear(x, w["weight_ih"], b_ih)

    def step_for(self, fused: bool):
        """(the step to run, its granularity): `fused_step` when asked for and the cell has one, else `step`."""
        return (self.fused_step, "fused") if fused and self.fused_step is not None else (self.step, "ops")

    def zero_state(self, x: Tensor, hidden_size: int) -> State:
        """The state before the first step: zeros (B, width) in x's dtype and device, one per state tensor."""
        return tuple(factories.zeros(x.shape[-2], n, dtype=x.dtype, device=x.device)
                     for n in self.state_sizes(hidden_size))

    def step(self, xw: Tensor, state: State, w: dict[str, Tensor | None]) -> State:
        raise NotImplementedError(f"{type(self).__name__}: a cell must define step(xw, state, w) -> new state")

    def layer(self, x: Tensor, state: State | None, w: dict[str, Tensor | None], reverse: bool = False,
              mask=None) -> tuple[Tensor, State]:
        """The whole sequence as one node (the speed path): -> (outputs (T, B, H), final state).
        mask: None, or a (T, B, 1) boolean array, False where a step is padding."""
        raise NotImplementedError(
            f"{type(self).__name__} has no whole-layer implementation, so unroll=False (the speed path) can't run "
            "it; use unroll=True, which runs any cell step by step")

    def __repr__(self):
        return f"{type(self).__name__}()"


class ElmanCell(Cell):
    """h' = tanh(xw + h W_hh^T)  (or relu)."""
    name = "RNN"

    def __init__(self, nonlinearity="tanh", owner="ElmanCell"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{owner}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def step(self, xw, state, w):
        a = xw + F.linear(state[0], w["weight_hh"])
        return (a.tanh() if self.nonlinearity == "tanh" else a.relu(),)

    def fused_step(self, xw, state, w):
        return (rnn_cells.FusedRNNStep(self.nonlinearity)(xw, state[0], w["weight_hh"]),)

    def layer(self, x, state, w, reverse=False, mask=None):
        out, h = rnn_layers.rnn_layer(x, w["weight_ih"], w["weight_hh"], w.get("bias_ih"), w.get("bias_hh"),
                                      None if state is None else state[0], self.nonlinearity, reverse, mask)
        return out, (h,)

    def __repr__(self):
        return f"ElmanCell(nonlinearity={self.nonlinearity!r})"


class LSTMGatedCell(Cell):
    """gates i, f, g, o = split(xw + h W_hh^T);  c' = sigmoid(f)*c + sigmoid(i)*tanh(g);  h' = sigmoid(o)*tanh(c').
    With proj_size P > 0 (PyTorch's LSTM with projections): h' = (sigmoid(o)*tanh(c')) W_hr^T, of size P;
    W_hr (P, H) is one more weight, W_hh is (4H, P) since it reads the projected h, and c keeps size H."""
    name, gates, state_size = "LSTM", 4, 2

    def __init__(self, proj_size: int = 0):
        self.proj_size = proj_size

    def parameter_shapes(self, input_size, hidden_size, bias=True):
        shapes = super().parameter_shapes(input_size, hidden_size, bias)
        if self.proj_size:
            shapes["weight_hh"] = (4 * hidden_size, self.proj_size)
            shapes["weight_hr"] = (self.proj_size, hidden_size)      # last, as in PyTorch's parameter order
        return shapes

    def state_sizes(self, hidden_size):
        return (self.proj_size or hidden_size, hidden_size)

    def step(self, xw, state, w):
        h, c = state
        i, f, g, o = (xw + F.linear(h, w["weight_hh"])).chunk(4, axis=-1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        if w.get("weight_hr") is not None:
            h = F.linear(h, w["weight_hr"])                          # the projection: h of size P
        return h, c

    def fused_step(self, xw, state, w):
        w_hr = () if w.get("weight_hr") is None else (w["weight_hr"],)
        return rnn_cells.FusedLSTMStep()(xw, state[0], state[1], w["weight_hh"], *w_hr)

    def layer(self, x, state, w, reverse=False, mask=None):
        h0, c0 = (None, None) if state is None else state
        out, h, c = rnn_layers.lstm_layer(x, w["weight_ih"], w["weight_hh"], w.get("bias_ih"), w.get("bias_hh"),
                                          h0, c0, reverse, mask, w.get("weight_hr"))
        return out, (h, c)

    def __repr__(self):
        return f"LSTMGatedCell(proj_size={self.proj_size})" if self.proj_size else "LSTMGatedCell()"


class GRUGatedCell(Cell):
    """h' = (1-z)*n + z*h  with  r, z = sigmoid(xw_rz + hw_rz),  n = tanh(xw_n + r*hw_n),  hw = h W_hh^T + b_hh."""
    name, gates = "GRU", 3
    fold_bias_hh = False    # b_hn sits inside r * (W_hn h + b_hn)

    def step(self, xw, state, w):
        h = state[0]
        x_r, x_z, x_n = xw.chunk(3, axis=-1)
        h_r, h_z, h_n = F.linear(h, w["weight_hh"], w.get("bias_hh")).chunk(3, axis=-1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = (x_n + r * h_n).tanh()
        return ((1 - z) * n + z * h,)

    def fused_step(self, xw, state, w):
        b_hh = () if w.get("bias_hh") is None else (w["bias_hh"],)
        return (rnn_cells.FusedGRUStep()(xw, state[0], w["weight_hh"], *b_hh),)

    def layer(self, x, state, w, reverse=False, mask=None):
        out, h = rnn_layers.gru_layer(x, w["weight_ih"], w["weight_hh"], w.get("bias_ih"), w.get("bias_hh"),
                                      None if state is None else state[0], reverse, mask)
        return out, (h,)
