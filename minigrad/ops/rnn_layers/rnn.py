"""RNNLayer: a whole Elman RNN layer-direction as one node (equations: models/bptt/rnn.py).
h' = phi(x W_ih^T + b_ih + b_hh + h W_hh^T), phi = tanh or relu;  dL/da = dL/dh' phi',  dL/dh = dL/da W_hh."""
from ... import backend
from . import kernels
from .common import RecurrentLayer, transposed


class RNNLayer(RecurrentLayer):
    """(out (T, B, H), h_n (B, H)) from x (T, B, In), w_ih (H, In), w_hh (H, H), optional biases (H,), h0."""
    kind, gates = "RNN", 1

    def __init__(self, names, reverse=False, mask=None, nonlinearity="tanh"):
        super().__init__(names, reverse, mask)
        self.nonlinearity = nonlinearity

    def _label_extras(self):
        return [self.nonlinearity] if hasattr(self, "nonlinearity") else []

    def _cell(self):
        from ...nn.cells import ElmanCell
        return ElmanCell(self.nonlinearity)

    def forward(self, *arrays):
        a = self._setup(arrays)
        x, w_ih, w_hh = a["x"], a["w_ih"], a["w_hh"]
        xp = backend.array_module(x)
        B, H = x.shape[1], self.hidden_size
        relu = self.nonlinearity == "relu"
        bias = self._folded_bias(a)
        hb, hcur, hprev = self._state_buffer(xp, B, H, a.get("h0"))
        self._input_projection(xp, x, w_ih, None, bias, hcur)      # each step's input part, in place
        rec, w_rec = xp.empty((B, H), dtype=self._dt), transposed(xp, w_hh)
        has_h, first = "h0" in a, self._first()
        m = None if self._mask is None else self._m if self._gpu else self._padded
        for t, h_prev, h, m_t in self._steps(range(self.steps), hprev, hcur, m):
            r = xp.dot(h_prev, w_rec, out=rec) if has_h or t != first else None
            if self._gpu:
                kernels.rnn_step(r, h_prev, m_t, H, relu, h)
                continue
            if r is not None:
                h += r
            if relu:
                xp.maximum(h, 0, out=h)
            else:
                xp.tanh(h, out=h)
            if m_t is not None:                                     # padded rows keep their state
                xp.copyto(h, h_prev, where=m_t)
        self._x, self._w_ih, self._w_hh, self._has_h0, self._hb = x, w_ih, w_hh, has_h, hb
        return hcur, self._final(hb)

    def backward(self, gy, gh_n):
        T, B, H, dt = self.steps, self._x.shape[1], self.hidden_size, self._dt
        xp = backend.array_module(self._hb)
        relu = self.nonlinearity == "relu"
        hcur, hprev = self._views(self._hb)
        gy = None if gy is None else gy.astype(dt, copy=False)
        dh_next = xp.zeros((B, H), dtype=dt) if gh_n is None else gh_n.astype(dt, order="C")    # a copy: written into
        need_h0, first = self._need("h0"), self._first()
        if self._gpu:
            dA = xp.empty((T, B, H), dtype=dt)
            gy = xp.zeros((T, B, H), dtype=dt) if gy is None else gy
            keep = xp.empty_like(dh_next)
            m = None if self._mask is None else self._m
            for t, h, gy_t, dA_t, m_t in self._steps(range(T), hcur, gy, dA, m, backward=True):
                kernels.rnn_step_backward(h, gy_t, dh_next, m_t, H, relu, dA_t, keep)
                if t != first or need_h0:
                    xp.dot(dA_t, self._w_hh, out=dh_next)
                    if m_t is not None:
                        dh_next += keep
        else:
            dA = (hcur > 0).astype(dt) if relu else 1 - hcur * hcur     # phi' of every step, then dL/da in place
            if self._mask is not None:
                dA *= self._m
            dh, scratch = xp.empty_like(dh_next), xp.empty_like(dh_next)
            pad = None if self._mask is None else self._pad
            for t, gy_t, dA_t, pad_t in self._steps(range(T), gy, dA, pad, backward=True):
                if gy_t is None:
                    xp.copyto(dh, dh_next)
                else:
                    xp.add(gy_t, dh_next, out=dh)                   # dL/dh_t: output + later steps
                dA_t *= dh
                if t != first or need_h0:
                    xp.dot(dA_t, self._w_hh, out=dh_next)           # dL/dh_{t-1}
                    if pad_t is not None:                           # padded rows pass dh straight on
                        dh_next += xp.multiply(dh, pad_t, out=scratch)
        grads = {"h0": dh_next if need_h0 else None}
        self._input_grads(dA, grads)
        if self._need("w_hh"):
            grads["w_hh"] = self._recurrent_weight_grad(dA, hprev, self._has_h0)
        return self._result(grads)
