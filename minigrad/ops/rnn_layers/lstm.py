"""LSTMLayer: a whole LSTM layer-direction as one node (equations: models/bptt/lstm.py).

    a_t = x_t W_ih^T + b_ih + b_hh + h_{t-1} W_hh^T = [a_i a_f a_g a_o]
    c_t = f c_{t-1} + i g,  h_t = o tanh(c_t)   (i f o = sigmoid, g = tanh of their blocks)

CPU speed tricks: the input projection of all steps is one matmul; the gate pre-activations are kept
scaled by -1 (i f o) and -2 (g), weights and biases scaled once, so one exp per step gives every gate
(tanh(a) = 2 sigmoid(2a) - 1); backward computes the local derivatives for a cache-sized block of steps at
a time, and the weight gradients as single matmuls over all steps.
"""
from ... import backend
from . import kernels
from .common import RecurrentLayer, quiet, sigmoid_of_negated_


class LSTMLayer(RecurrentLayer):
    """(out (T, B, H), h_n, c_n (B, H)) from x (T, B, In), w_ih (4H, In), w_hh (4H, H), optional biases (4H,),
    h0, c0 (B, H) (zeros when absent)."""
    kind, gates = "LSTM", 4

    def forward(self, *arrays):
        a = self._setup(arrays)
        x, w_ih, w_hh = a["x"], a["w_ih"], a["w_hh"]
        xp = backend.array_module(x)
        T, B, _ = x.shape
        H, dt = self.hidden_size, self._dt
        biases = [a[k] for k in ("b_ih", "b_hh") if k in a]
        bias = biases[0] + biases[1] if len(biases) == 2 else (biases[0] if biases else None)
        scale = None
        if not self._gpu:                                      # -a for i f o, -2a for g: one exp gives all
            scale = xp.full(4 * H, -1, dtype=dt)
            scale[2 * H:3 * H] = -2
        act = xp.empty((T, B, 4 * H), dtype=dt)
        self._input_projection(xp, x, w_ih, scale, bias, act)
        hb, hcur, hprev = self._state_buffer(xp, B, H, a.get("h0"))
        cb, ccur, cprev = self._state_buffer(xp, B, H, a.get("c0"))
        tc = xp.empty((T, B, H), dtype=dt)
        w_rec = (w_hh if scale is None else w_hh * scale[:, None]).T
        rec = xp.empty((B, 4 * H), dtype=dt)
        has_h, has_c, first = "h0" in a, "c0" in a, self._first()
        with quiet(xp):
            for t in self._order():
                r = xp.matmul(hprev[t], w_rec, out=rec) if has_h or t != first else None
                if self._gpu:
                    m = None if self._mask is None else self._m[t]
                    kernels.lstm_step(act[t], r, cprev[t], hprev[t], m, H, ccur[t], tc[t], hcur[t])
                    continue
                g = act[t]
                if r is not None:
                    g += r
                sigmoid_of_negated_(g, xp)                     # i, f, o and sigmoid(2 a_g)
                gg = g[:, 2 * H:3 * H]
                gg *= 2
                gg -= 1                                        # g = tanh(a_g)
                c = xp.multiply(g[:, :H], gg, out=ccur[t])     # c = i g + f c_prev
                if has_c or t != first:
                    c += xp.multiply(g[:, H:2 * H], cprev[t], out=tc[t])
                xp.tanh(c, out=tc[t])
                xp.multiply(g[:, 3 * H:], tc[t], out=hcur[t])  # h = o tanh(c)
                self._hold_padded(xp, t, c, cprev[t])
                self._hold_padded(xp, t, hcur[t], hprev[t])
        self._x, self._w_ih, self._w_hh, self._has_h0 = x, w_ih, w_hh, has_h
        self._act, self._cb, self._hb, self._tc = act, cb, hb, tc
        return hcur, self._final(hb), self._final(cb)

    def backward(self, gy, gh_n, gc_n):
        T, B, H, dt = self.steps, self._x.shape[1], self.hidden_size, self._dt
        xp = backend.array_module(self._act)
        gy = None if gy is None else gy.astype(dt, copy=False)
        dh_next = xp.zeros((B, H), dtype=dt) if gh_n is None else gh_n.astype(dt)   # a copy: written into
        dc_next = xp.zeros((B, H), dtype=dt) if gc_n is None else gc_n.astype(dt)
        dA = xp.empty((T, B, 4 * H), dtype=dt)                 # dL/da_t for every step
        need_h0 = self._need("h0")
        run = self._backward_gpu if self._gpu else self._backward_cpu
        run(xp, gy, dh_next, dc_next, dA, need_h0)
        grads = {"h0": dh_next if need_h0 else None, "c0": dc_next if self._need("c0") else None}
        self._input_grads(dA, grads)
        if self._need("w_hh"):
            grads["w_hh"] = self._recurrent_weight_grad(dA, self._views(self._hb)[1], self._has_h0)
        return self._result(grads)

    def _backward_cpu(self, xp, gy, dh_next, dc_next, dA, need_h0):
        """dh_next, dc_next: dL/dh_t, dL/dc_t from later steps (in: from h_n, c_n; out: dL/dh0, dL/dc0)."""
        B, H = dh_next.shape
        dA4 = dA.reshape(self.steps, B, 4, H)
        dh, dc, scratch = xp.empty_like(dh_next), xp.empty_like(dh_next), xp.empty_like(dh_next)
        n = self._block_len(B * 4 * H * self._dt.itemsize)
        k_buf, kc_buf = xp.empty((n, B, 4, H), dtype=self._dt), xp.empty((n, B, H), dtype=self._dt)
        cprev = self._views(self._cb)[1]
        lo = hi = None
        for t in reversed(self._order()):
            if lo is None or not lo <= t < hi:
                lo, hi = self._block(t, B * 4 * H * self._dt.itemsize)
                k, kc, f = self._factors(xp, lo, hi, cprev, k_buf, kc_buf)
            j = t - lo
            if gy is None:
                dh[...] = dh_next
            else:
                xp.add(gy[t], dh_next, out=dh)                            # dL/dh_t: output + later steps
            xp.multiply(dh, k[j, :, 3], out=dA4[t, :, 3])                 # dL/da_o
            xp.multiply(dh, kc[j], out=dc)
            dc += dc_next                                                 # dL/dc_t
            xp.multiply(dc[:, None, :], k[j, :, :3], out=dA4[t, :, :3])   # dL/da_i, da_f, da_g
            xp.multiply(dc, f[j], out=dc_next)                            # dL/dc_{t-1}
            if t != self._first() or need_h0:
                xp.matmul(dA[t], self._w_hh, out=dh_next)                 # dL/dh_{t-1}
                if self._mask is not None:                                # padded rows pass dh straight on
                    dh_next += xp.multiply(dh, self._pad[t], out=scratch)

    def _factors(self, xp, lo, hi, cprev, k_buf, kc_buf):
        """Local derivatives of steps [lo, hi): k (n, B, 4, H) with dA_{i,f,g} = dc k_{i,f,g}, dA_o = dh k_o;
        kc with dc = dh kc + dL/dc_t (from later); f with dL/dc_{t-1} = dc f. Padded rows: k = kc = 0, f = 1."""
        n, B, H = hi - lo, self._act.shape[1], self.hidden_size
        a = self._act[lo:hi].reshape(n, B, 4, H)
        i, f, g, o = a[:, :, 0], a[:, :, 1], a[:, :, 2], a[:, :, 3]
        tc, k, kc = self._tc[lo:hi], k_buf[:n], kc_buf[:n]
        xp.subtract(1, a, out=k)
        k *= a                                                  # s (1 - s)
        k[:, :, 0] *= g                                         # k_i = g i (1 - i)
        k[:, :, 1] *= cprev[lo:hi]                              # k_f = c_prev f (1 - f)
        kg = xp.multiply(g, g, out=k[:, :, 2])
        xp.subtract(1, kg, out=kg)
        kg *= i                                                 # k_g = i (1 - g^2)
        k[:, :, 3] *= tc                                        # k_o = tanh(c) o (1 - o)
        xp.multiply(tc, tc, out=kc)
        xp.subtract(1, kc, out=kc)
        kc *= o                                                 # kc = o (1 - tanh(c)^2)
        if self._mask is not None:
            m = self._m[lo:hi]
            k *= m[:, :, :, None]
            kc *= m
            f = f * m + self._pad[lo:hi]
        return k, kc, f

    def _backward_gpu(self, xp, gy, dhr, dc, dA, need_h0):
        B, H = dhr.shape
        gy = xp.zeros((self.steps, B, H), dtype=self._dt) if gy is None else gy
        cprev = self._views(self._cb)[1]
        dc_prev, keep = xp.empty_like(dc), xp.empty_like(dc)
        for t in reversed(self._order()):
            m = None if self._mask is None else self._m[t]
            kernels.lstm_step_backward(self._act[t], cprev[t], self._tc[t], gy[t], dhr, dc, m, H, dA[t], dc_prev, keep)
            dc[...] = dc_prev
            if t != self._first() or need_h0:
                xp.matmul(dA[t], self._w_hh, out=dhr)
                if m is not None:
                    dhr += keep
