"""LSTMLayer: a whole LSTM layer-direction as one node (equations: models/bptt/lstm.py).
a = x W_ih^T + b_ih + b_hh + h W_hh^T = [a_i a_f a_g a_o];  c' = f c + i g,  h' = o tanh(c').
With a projection w_hr (P, H): h' = r W_hr^T with r = o tanh(c'), so h (and W_hh's columns) have size P and BPTT
goes through it: dL/dr = dL/dh' W_hr, dL/dW_hr = sum over steps of dL/dh'^T r."""
# CPU speed tricks: one matmul projects every step's input; the gates are kept in the order o i f g with their
# pre-activations scaled (weights and biases scaled once), so ONE tanh per step (float32: a/2 for the sigmoids,
# sigmoid(a) = (1 + tanh(a/2)) / 2) or ONE exp (-a, -2a: tanh(a) = 2 sigmoid(2a) - 1) gives every gate; the o
# block sits apart from the i f g blocks that dL/dc drives, so backward writes each with one product; the local
# derivatives are computed per cache-sized block of steps; weight gradients are single matmuls over all steps.
import functools

from ... import backend
from . import kernels
from .common import SIGMOID_SCALE, WORKSPACE, RecurrentLayer, gate_mode, quiet, transposed


@functools.lru_cache(maxsize=64)
def _cpu_layout(H, dtype, mode):
    """The CPU path's gate order o i f g (rows of the PyTorch weights), the way back, and the gate scales."""
    host = backend.xp_for("cpu")
    rows = host.concatenate([host.arange(3 * H, 4 * H), host.arange(3 * H)])
    scale = host.full(4 * H, SIGMOID_SCALE[mode], dtype=dtype)
    scale[3 * H:] = 1 if mode == "tanh" else -2                # tanh(a) = 2 sigmoid(2a) - 1
    back = host.argsort(rows)
    for a in (rows, back, scale):
        a.flags.writeable = False                              # shared by every call
    return rows, back, scale


class LSTMLayer(RecurrentLayer):
    """(out (T, B, H), h_n, c_n (B, H)) from x (T, B, In), w_ih (4H, In), w_hh (4H, H), optional biases (4H,),
    h0, c0 (B, H) (zeros when absent); with w_hr (P, H): out, h_n and h0 are (.., P) and w_hh is (4H, P)."""
    kind, gates = "LSTM", 4
    _scratch = ("_act", "_cb", "_tc", "_hr")
    _hr = None                      # with a projection: r = o tanh(c) of every step (T, B, H), 0 on padded rows

    def _cell(self):
        from ...nn.cells import LSTMGatedCell
        return LSTMGatedCell(self.proj_size)

    def _label_extras(self):
        return [f"proj {self.proj_size}"] if self.proj_size else []

    def forward(self, *arrays):
        a = self._setup(arrays)
        x, w_ih, w_hh = a["x"], a["w_ih"], a["w_hh"]
        xp = backend.array_module(x)
        T, B, _ = x.shape
        H, dt, proj = self.hidden_size, self._dt, "w_hr" in a
        P = self.proj_size or H
        bias = self._folded_bias(a)
        scale, mode = None, gate_mode(dt)
        if not self._gpu:               # CPU: gates reordered o i f g, pre-activations scaled for one-pass gates
            rows, self._pytorch_rows, scale = _cpu_layout(H, dt, mode)
            w_ih, w_hh = w_ih[rows], w_hh[rows]                # backward's dx and dh use these; dA comes in this order
            bias = None if bias is None else bias[rows]
        act = WORKSPACE.take(xp, (T, B, 4 * H), dt)
        self._input_projection(xp, x, w_ih, scale, bias, act)
        hb, hcur, hprev = self._state_buffer(xp, B, P, a.get("h0"))
        cb, ccur, cprev = self._state_buffer(xp, B, H, a.get("c0"), scratch=True)
        tc = WORKSPACE.take(xp, (T, B, H), dt)
        hr = WORKSPACE.take(xp, (T, B, H), dt) if proj else hcur     # r = o tanh(c): h itself without projection
        w_out = transposed(xp, a["w_hr"]) if proj else None          # h = r W_hr^T
        w_rec, rec = transposed(xp, w_hh, scale), xp.empty((B, 4 * H), dtype=dt)
        has_h, has_c, first = "h0" in a, "c0" in a, self._first()
        pad = None if self._mask is None else self._padded
        if self._gpu:
            zero_r = xp.zeros((B, H), dtype=dt) if proj else None
            for t, g, h_prev, c_prev, c, tct, h, r_t, m, pad_t in self._steps(
                    range(T), act, hprev, cprev, ccur, tc, hcur, hr, None if pad is None else self._m, pad):
                r = xp.dot(h_prev, w_rec, out=rec) if has_h or t != first else None
                if not proj:
                    kernels.lstm_step(g, r, c_prev, h_prev, m, H, c, tct, h)
                    continue
                kernels.lstm_step(g, r, c_prev, zero_r, m, H, c, tct, r_t)    # padded rows: r = 0
                xp.dot(r_t, w_out, out=h)
                if pad_t is not None:
                    xp.copyto(h, h_prev, where=pad_t)
        else:
            a4 = act.reshape(T, B, 4, H)
            half, one, two = self._constants(xp, 0.5, 1, 2)
            tanh, multiply, dot, copyto = xp.tanh, xp.multiply, xp.dot, xp.copyto
            steps = self._steps(range(T), act, act[:, :, :3 * H], a4[:, :, 0], a4[:, :, 1], a4[:, :, 2],
                                a4[:, :, 3], hprev, cprev, ccur, tc, hcur, hr, pad)
            with quiet(x):
                for t, g, s, o, i, f, gg, h_prev, c_prev, c, tct, h, r_t, pad_t in steps:
                    if has_h or t != first:
                        g += dot(h_prev, w_rec, out=rec)
                    if mode == "tanh":
                        tanh(g, out=g)                         # tanh(a_g), and tanh(a/2) for o i f
                        s *= half
                        s += half                              # sigmoid(a) = (1 + tanh(a/2)) / 2
                    else:
                        xp.exp(g, out=g)                       # exp(-a), exp(-2 a_g)
                        g += one
                        xp.reciprocal(g, out=g)                # sigmoid(a), sigmoid(2 a_g)
                        gg *= two
                        gg -= one                              # tanh(a_g)
                    multiply(i, gg, out=c)                     # c = i g + f c_prev
                    if has_c or t != first:
                        c += multiply(f, c_prev, out=tct)
                    tanh(c, out=tct)
                    multiply(o, tct, out=r_t)                  # h = o tanh(c) (r_t is h without projection)
                    if proj:
                        dot(r_t, w_out, out=h)                 # h = r W_hr^T
                    if pad_t is not None:                      # padded rows keep their state
                        copyto(c, c_prev, where=pad_t)
                        copyto(h, h_prev, where=pad_t)
                        if proj:
                            copyto(r_t, 0, where=pad_t)        # no projection ran: nothing for dL/dW_hr
        self._x, self._w_ih, self._w_hh, self._has_h0 = x, w_ih, w_hh, has_h
        self._act, self._cb, self._hb, self._tc = act, cb, hb, tc
        if proj:
            self._hr, self._w_hr = hr, a["w_hr"]
        return hcur, self._final(hb), self._final(cb)

    def backward(self, gy, gh_n, gc_n):
        T, B, H, dt = self.steps, self._x.shape[1], self.hidden_size, self._dt
        P = self.proj_size or H
        xp = backend.array_module(self._act)
        gy = None if gy is None else gy.astype(dt, copy=False)
        dh_next = xp.zeros((B, P), dtype=dt) if gh_n is None else gh_n.astype(dt, order="C")   # a copy: written into
        dc_next = xp.zeros((B, H), dtype=dt) if gc_n is None else gc_n.astype(dt, order="C")
        dA = WORKSPACE.take(xp, (T, B, 4 * H), dt)             # dL/da_t for every step (gates as in act)
        dP = WORKSPACE.take(xp, (T, B, P), dt) if self.proj_size else None    # dL/dh_t of every step, for dW_hr
        need_h0 = self._need("h0")
        run = self._backward_gpu if self._gpu else self._backward_cpu
        run(xp, gy, dh_next, dc_next, dA, need_h0, dP)
        grads = {"h0": dh_next if need_h0 else None, "c0": dc_next if self._need("c0") else None}
        self._input_grads(dA, grads)
        if self._need("w_hh"):
            grads["w_hh"] = self._recurrent_weight_grad(dA, self._views(self._hb)[1], self._has_h0)
        if self._need("w_hr"):                                  # dL/dW_hr = sum_t dL/dh_t^T r_t (r = 0 on padding)
            grads["w_hr"] = dP.reshape(T * B, P).T @ self._hr.reshape(T * B, H)
        WORKSPACE.give(dA, dP)
        return self._result(grads)

    def _backward_cpu(self, xp, gy, dh_next, dc_next, dA, need_h0, dP):
        """dh_next, dc_next: dL/dh_t, dL/dc_t from later steps (in: from h_n, c_n; out: dL/dh0, dL/dc0).
        dP (T, B, P) or None: where each step's dL/dh_t is kept (with a projection)."""
        T, (B, H), dt = self.steps, dc_next.shape, self._dt
        dA4 = dA.reshape(T, B, 4, H)
        dh, scratch, dc = xp.empty_like(dh_next), xp.empty_like(dh_next), xp.empty_like(dc_next)
        dr = None if dP is None else xp.empty_like(dc_next)   # dL/dr, r = o tanh(c) before the projection
        dc3 = dc[:, None, :]
        blocks = self._blocks(B * 4 * H * dt.itemsize)
        n = blocks[0][1] - blocks[0][0] if blocks else 0
        k_buf, kc_buf = xp.empty((n, B, 4, H), dtype=dt), xp.empty((n, B, H), dtype=dt)
        cprev = self._views(self._cb)[1]
        multiply, dot, w_hh, first = xp.multiply, xp.dot, self._w_hh, self._first()
        pad = None if self._mask is None else self._pad
        for lo, hi in blocks:
            k, kc, f = self._factors(xp, lo, hi, cprev, k_buf, kc_buf)
            part = lambda a: None if a is None else a[lo:hi]  # noqa: E731
            steps = self._steps(range(lo, hi), part(gy), k[:, :, 0], kc, k[:, :, 1:], f, dA[lo:hi],
                                dA4[lo:hi, :, 0], dA4[lo:hi, :, 1:], part(pad), part(dP), backward=True)
            for t, gy_t, k_o, kc_t, k_ifg, f_t, dA_t, dA_o, dA_ifg, pad_t, dP_t in steps:
                d = dh if dP_t is None else dP_t
                if gy_t is None:
                    xp.copyto(d, dh_next)
                else:
                    xp.add(gy_t, dh_next, out=d)               # dL/dh_t: output + later steps
                d_r = d if dr is None else dot(d, self._w_hr, out=dr)     # dL/dr = dL/dh W_hr
                multiply(d_r, k_o, out=dA_o)                   # dL/da_o
                multiply(d_r, kc_t, out=dc)
                dc += dc_next                                  # dL/dc_t
                multiply(dc3, k_ifg, out=dA_ifg)               # dL/da_i, da_f, da_g
                multiply(dc, f_t, out=dc_next)                 # dL/dc_{t-1}
                if t != first or need_h0:
                    dot(dA_t, w_hh, out=dh_next)               # dL/dh_{t-1}
                    if pad_t is not None:                      # padded rows pass dh straight on
                        dh_next += multiply(d, pad_t, out=scratch)

    def _factors(self, xp, lo, hi, cprev, k_buf, kc_buf):
        """Steps [lo, hi): k (n, B, 4, H) with dA_o = dh k_o, dA_ifg = dc k_ifg; kc with dc = dh kc + dc_later;
        f with dc_prev = dc f. Padded rows: k = kc = 0, f = 1."""
        n, B, H = hi - lo, self._act.shape[1], self.hidden_size
        a = self._act[lo:hi].reshape(n, B, 4, H)               # activations in the order o i f g
        o, i, f, g = a[:, :, 0], a[:, :, 1], a[:, :, 2], a[:, :, 3]
        tc, k, kc = self._tc[lo:hi], k_buf[:n], kc_buf[:n]
        xp.subtract(1, a, out=k)
        k *= a                                                  # s (1 - s) for o, i, f
        k[:, :, 0] *= tc                                        # k_o = tanh(c) o (1 - o)
        k[:, :, 1] *= g                                         # k_i = g i (1 - i)
        k[:, :, 2] *= cprev[lo:hi]                              # k_f = c_prev f (1 - f)
        kg = xp.multiply(g, g, out=k[:, :, 3])
        xp.subtract(1, kg, out=kg)
        kg *= i                                                 # k_g = i (1 - g^2)
        xp.multiply(tc, tc, out=kc)
        xp.subtract(1, kc, out=kc)
        kc *= o                                                 # kc = o (1 - tanh(c)^2)
        if self._mask is not None:
            m = self._m[lo:hi]
            k *= m[:, :, :, None]
            kc *= m
            f = f * m + self._pad[lo:hi]
        return k, kc, f

    def _backward_gpu(self, xp, gy, dhr, dc, dA, need_h0, dP):
        """The kernel takes dL/dh as gy + dhr; with a projection it gets dL/dr = dL/dh W_hr as gy and zeros."""
        T, (B, H), first = self.steps, dc.shape, self._first()
        gy = xp.zeros((T, B, dhr.shape[1]), dtype=self._dt) if gy is None else gy
        dc_prev, keep = xp.empty_like(dc), xp.empty_like(dc)     # keep: dL/dh_t on padded rows (else 0)
        keep_h = keep if dP is None else xp.empty_like(dhr)
        if dP is not None:
            dr, zero_r = xp.empty_like(dc), xp.zeros_like(dc)
        m, pad = (None, None) if self._mask is None else (self._m, self._pad)
        steps = self._steps(range(T), self._act, self._views(self._cb)[1], self._tc, gy, dA, m, pad, dP,
                            backward=True)
        for t, act_t, c_prev, tc_t, gy_t, dA_t, m_t, pad_t, dP_t in steps:
            if dP_t is None:
                kernels.lstm_step_backward(act_t, c_prev, tc_t, gy_t, dhr, dc, m_t, H, dA_t, dc_prev, keep)
            else:
                xp.add(gy_t, dhr, out=dP_t)                    # dL/dh_t
                xp.dot(dP_t, self._w_hr, out=dr)               # dL/dr
                kernels.lstm_step_backward(act_t, c_prev, tc_t, dr, zero_r, dc, m_t, H, dA_t, dc_prev, keep)
                if m_t is not None:
                    xp.multiply(dP_t, pad_t, out=keep_h)       # padded rows pass dh straight on
            xp.copyto(dc, dc_prev)
            if t != first or need_h0:
                xp.dot(dA_t, self._w_hh, out=dhr)
                if m_t is not None:
                    dhr += keep_h
