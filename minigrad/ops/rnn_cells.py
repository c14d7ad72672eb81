"""Fused recurrent steps: one graph node per time step, the gate math with a hand-derived backward.

Each computes exactly what the fine-grained cells in minigrad/nn/cells.py compute op by op; the
derivations are written out in models/bptt and in the tutorial "BPTT by hand vs autograd". Every step
is a self-contained node: its inputs are the step's input projection xw = x W_ih^T + b, the previous
state and W_hh; it saves what its own backward needs on itself and nothing else.
Conventions (PyTorch's): LSTM gates i, f, g, o; GRU gates r, z, n. On CuPy the elementwise math of a
step runs as one kernel forward and one backward (minigrad/ops/cuda_kernels.py).
Second derivatives: each node's `decompose` is the cell's fine-grained `step` (minigrad/nn/cells.py), which the
engine differentiates when a gradient with a graph is wanted (create_graph=True); the kernels serve first order.
"""
from .. import backend
from ..autograd import Function
from . import cuda_kernels
from .unary import sigmoid


class FusedRNNStep(Function):
    """h' = tanh(xw + h W_hh^T)  (or relu)."""

    def __init__(self, nonlinearity="tanh"):
        self.nonlinearity = nonlinearity

    def forward(self, xw, h, w_hh):
        xp = backend.array_module(xw)
        a = h @ w_hh.T + xw
        y = xp.tanh(a, out=a) if self.nonlinearity == "tanh" else xp.maximum(a, 0, out=a)
        self.y, self.h, self.w_hh = y, h, w_hh
        return y

    def backward(self, gy):
        # tanh' = 1 - h'^2, relu' = [h' > 0]
        ga = gy * (1 - self.y * self.y) if self.nonlinearity == "tanh" else gy * (self.y > 0)
        gh_prev = ga @ self.w_hh if self.needs_grad[1] else None
        gw = ga.T @ self.h if self.needs_grad[2] else None
        return ga, gh_prev, gw

    def decompose(self, xw, h, w_hh):
        """The same step in plain ops (for higher derivatives): ElmanCell.step."""
        from ..nn.cells import ElmanCell            # lazily: minigrad.nn builds on minigrad.ops
        return ElmanCell(self.nonlinearity).step(xw, (h,), {"weight_hh": w_hh})[0]


class FusedLSTMStep(Function):
    """(h', c') from gates = xw + h W_hh^T:  i, f, o = sigmoid,  g = tanh,  c' = f*c + i*g,  h' = o*tanh(c').
    With w_hr (P, H) (an LSTM with projections): h' = (o*tanh(c')) W_hr^T, of size P."""

    def forward(self, xw, h, c, w_hh, w_hr=None):
        xp = backend.array_module(xw)
        H = c.shape[1]
        gates = h @ w_hh.T + xw                           # (B, 4H): pre-activations of i, f, g, o
        if backend.device_of(xw) == "cuda":
            act, c_new, tc, h_new = cuda_kernels.lstm_step_forward(gates, c, H)
        else:
            act = sigmoid(gates)                           # i, f, o (the g block is overwritten next)
            act[:, 2 * H:3 * H] = xp.tanh(gates[:, 2 * H:3 * H])
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            c_new = f * c + i * g
            tc = xp.tanh(c_new)
            h_new = o * tc
        self.act, self.c, self.tc, self.h, self.w_hh, self.w_hr = act, c, tc, h, w_hh, w_hr
        if w_hr is not None:                               # the projection: h' = h_raw W_hr^T
            self.h_raw = h_new
            h_new = h_new @ w_hr.T
        return h_new, c_new

    def backward(self, gh, gc):
        xp = backend.array_module(self.act)
        act, c, tc = self.act, self.c, self.tc
        H = c.shape[1]
        gw_hr = None
        if gh is not None and self.w_hr is not None:      # through the projection: dh_raw = dh' W_hr
            gw_hr = gh.T @ self.h_raw if self.needs_grad[4] else None     # dW_hr = dh'^T h_raw
            gh = gh @ self.w_hr
        if gh is None:
            gh = xp.zeros_like(c)
        if backend.device_of(act) == "cuda":
            dgates, gc_prev = cuda_kernels.lstm_step_backward(act, c, tc, gh, gc, H)
        else:
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            dc = gh * o * (1 - tc * tc)                    # h' = o tanh(c'), plus the gradient that reached c'
            if gc is not None:
                dc += gc
            dgates = xp.empty_like(act)
            dgates[:, :H] = dc * g * i * (1 - i)           # sigmoid' = s (1 - s)
            dgates[:, H:2 * H] = dc * c * f * (1 - f)
            dgates[:, 2 * H:3 * H] = dc * i * (1 - g * g)  # tanh' = 1 - tanh^2
            dgates[:, 3 * H:] = gh * tc * o * (1 - o)
            gc_prev = dc * f
        gh_prev = dgates @ self.w_hh if self.needs_grad[1] else None
        gw = dgates.T @ self.h if self.needs_grad[3] else None
        return (dgates, gh_prev, gc_prev, gw) if self.w_hr is None else (dgates, gh_prev, gc_prev, gw, gw_hr)

    def decompose(self, xw, h, c, w_hh, w_hr=None):
        """The same step in plain ops (for higher derivatives): LSTMGatedCell.step -> (h', c')."""
        from ..nn.cells import LSTMGatedCell
        return LSTMGatedCell().step(xw, (h, c), {"weight_hh": w_hh, "weight_hr": w_hr})


class FusedGRUStep(Function):
    """h' = (1-z)*n + z*h  with  r, z = sigmoid(xw_rz + hw_rz),  n = tanh(xw_n + r*hw_n),  hw = h W_hh^T (+ b_hh)."""

    def forward(self, xw, h, w_hh, b_hh=None):
        xp = backend.array_module(xw)
        H = h.shape[1]
        hw = h @ w_hh.T if b_hh is None else h @ w_hh.T + b_hh
        if backend.device_of(xw) == "cuda":
            rz, n, h_new = cuda_kernels.gru_forward(xw, hw, h, H)
        else:
            rz = sigmoid(xw[:, :2 * H] + hw[:, :2 * H])
            n = xp.tanh(xw[:, 2 * H:] + rz[:, :H] * hw[:, 2 * H:])
            h_new = n + rz[:, H:] * (h - n)
        self.rz, self.n, self.hw_n, self.h, self.w_hh = rz, n, hw[:, 2 * H:], h, w_hh
        return h_new

    def backward(self, gy):
        xp = backend.array_module(gy)
        h, n, hw_n = self.h, self.n, self.hw_n
        H = n.shape[1]
        if backend.device_of(gy) == "cuda":
            gxw, ghw, gh_direct = cuda_kernels.gru_backward(self.rz, n, hw_n, h, gy, H)
        else:
            r, z = self.rz[:, :H], self.rz[:, H:]
            gxw = xp.empty((gy.shape[0], 3 * H), dtype=gy.dtype)
            gan = gy * (1 - z) * (1 - n * n)                   # through n = tanh(a_n)
            gxw[:, 2 * H:] = gan
            gxw[:, :H] = gan * hw_n * r * (1 - r)              # through r inside a_n
            gxw[:, H:2 * H] = gy * (h - n) * z * (1 - z)       # through z
            ghw = gxw.copy()
            ghw[:, 2 * H:] *= r                                # a_n = xw_n + r * hw_n
            gh_direct = gy * z
        gh_prev = ghw @ self.w_hh + gh_direct if self.needs_grad[1] else None
        gw = ghw.T @ h if self.needs_grad[2] else None
        if len(self.needs_grad) == 3:                         # no b_hh
            return gxw, gh_prev, gw
        return gxw, gh_prev, gw, ghw.sum(axis=0) if self.needs_grad[3] else None

    def decompose(self, xw, h, w_hh, b_hh=None):
        """The same step in plain ops (for higher derivatives): GRUGatedCell.step."""
        from ..nn.cells import GRUGatedCell
        return GRUGatedCell().step(xw, (h,), {"weight_hh": w_hh, "bias_hh": b_hh})[0]
