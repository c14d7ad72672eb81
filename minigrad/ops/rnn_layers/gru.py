"""GRULayer: a whole GRU layer-direction as one node (equations: models/bptt/gru.py).

    gi = x_t W_ih^T + b_ih,  gh = h_{t-1} W_hh^T + b_hh      (blocks r, z, n)
    r, z = sigmoid(gi_rz + gh_rz),  n = tanh(gi_n + r gh_n),  h_t = (1 - z) n + z h_{t-1}

CPU: the r and z blocks are kept negated (weights and biases scaled once) so one exp gives both gates;
backward computes the local derivatives per cache-sized block of steps, so each step is two products
and one matmul; weight gradients are single matmuls over all steps.
"""
from ... import backend
from . import kernels
from .common import RecurrentLayer, quiet, sigmoid_of_negated_


class GRULayer(RecurrentLayer):
    """(out (T, B, H), h_n (B, H)) from x (T, B, In), w_ih (3H, In), w_hh (3H, H), optional biases (3H,), h0."""
    kind, gates = "GRU", 3

    def forward(self, *arrays):
        a = self._setup(arrays)
        x, w_ih, w_hh = a["x"], a["w_ih"], a["w_hh"]
        xp = backend.array_module(x)
        T, B, _ = x.shape
        H, dt = self.hidden_size, self._dt
        b_hh = a.get("b_hh")
        scale = None
        if not self._gpu:                                      # -a for r and z: one exp gives both
            scale = xp.ones(3 * H, dtype=dt)
            scale[:2 * H] = -1
            w_hh, b_hh = w_hh * scale[:, None], (None if b_hh is None else b_hh * scale)
        act = xp.empty((T, B, 3 * H), dtype=dt)
        self._input_projection(xp, x, w_ih, scale, a.get("b_ih"), act)
        hb, hcur, hprev = self._state_buffer(xp, B, H, a.get("h0"))
        ghn = xp.empty((T, B, H), dtype=dt)                    # h_{t-1} W_hn^T + b_hn: backward needs it
        rec, scratch, w_rec = xp.empty((B, 3 * H), dtype=dt), xp.empty((B, H), dtype=dt), w_hh.T
        has_h, first = "h0" in a, self._first()
        with quiet(xp):
            for t in self._order():
                gh = xp.matmul(hprev[t], w_rec, out=rec) if has_h or t != first else None
                if self._gpu:
                    m = None if self._mask is None else self._m[t]
                    kernels.gru_step(act[t], gh, b_hh, hprev[t], m, H, ghn[t], hcur[t])
                    continue
                if gh is not None and b_hh is not None:
                    gh += b_hh
                elif b_hh is not None:
                    gh = b_hh[None, :]
                g = act[t]
                if gh is None:
                    ghn[t] = 0
                else:
                    g[:, :2 * H] += gh[:, :2 * H]
                    ghn[t] = gh[:, 2 * H:]
                sigmoid_of_negated_(g[:, :2 * H], xp)         # r, z
                n = g[:, 2 * H:]
                n += xp.multiply(g[:, :H], ghn[t], out=scratch)
                xp.tanh(n, out=n)
                h, z = hcur[t], g[:, H:2 * H]
                if has_h or t != first:                        # h = n + z (h_prev - n)
                    xp.subtract(hprev[t], n, out=h)
                    h *= z
                    h += n
                else:
                    xp.multiply(z, n, out=h)
                    xp.subtract(n, h, out=h)
                self._hold_padded(xp, t, h, hprev[t])
        self._x, self._w_ih, self._w_hh, self._has_h0 = x, a["w_ih"], a["w_hh"], has_h
        self._act, self._ghn, self._hb = act, ghn, hb
        return hcur, self._final(hb)

    def backward(self, gy, gh_n):
        T, B, H, dt = self.steps, self._x.shape[1], self.hidden_size, self._dt
        xp = backend.array_module(self._act)
        gy = None if gy is None else gy.astype(dt, copy=False)
        dh_next = xp.zeros((B, H), dtype=dt) if gh_n is None else gh_n.astype(dt)    # a copy: written into
        dgh = xp.empty((T, B, 3 * H), dtype=dt)                # dL/d(h W_hh^T + b_hh) of every step
        dgi = xp.empty((T, B, 3 * H), dtype=dt)                # dL/d(x W_ih^T + b_ih)
        need_h0 = self._need("h0")
        run = self._backward_gpu if self._gpu else self._backward_cpu
        run(xp, gy, dh_next, dgh, dgi, need_h0)
        grads = {"h0": dh_next if need_h0 else None}
        self._input_grads(dgi, grads, dA_hh=dgh)
        if self._need("w_hh"):
            grads["w_hh"] = self._recurrent_weight_grad(dgh, self._views(self._hb)[1], self._has_h0)
        return self._result(grads)

    def _backward_cpu(self, xp, gy, dh_next, dgh, dgi, need_h0):
        B, H = dh_next.shape
        dgh4, dgi4 = dgh.reshape(self.steps, B, 3, H), dgi.reshape(self.steps, B, 3, H)
        dh, scratch = xp.empty_like(dh_next), xp.empty_like(dh_next)
        k_buf = xp.empty((self._block_len(B * 4 * H * self._dt.itemsize), B, 4, H), dtype=self._dt)
        lo = hi = None
        for t in reversed(self._order()):
            if lo is None or not lo <= t < hi:
                lo, hi = self._block(t, B * 4 * H * self._dt.itemsize)
                k, z = self._factors(xp, lo, hi, k_buf)
            j = t - lo
            if gy is None:
                dh[...] = dh_next
            else:
                xp.add(gy[t], dh_next, out=dh)                            # dL/dh_t: output + later steps
            xp.multiply(dh[:, None, :], k[j, :, :3], out=dgh4[t])         # [da_r, da_z, r da_n]
            xp.multiply(dh, k[j, :, 3], out=dgi4[t, :, 2])                # da_n
            if t != self._first() or need_h0:
                xp.matmul(dgh[t], self._w_hh, out=dh_next)                # dL/dh_{t-1}: through the gates
                dh_next += xp.multiply(dh, z[j], out=scratch)             # ... and directly (z; 1 if padded)
        dgi[:, :, :2 * H] = dgh[:, :, :2 * H]

    def _factors(self, xp, lo, hi, k_buf):
        """Local derivatives of steps [lo, hi): k (n, B, 4, H) = [k_r, k_z, r k_n, k_n] with da = dh k, and z
        (dL/dh_{t-1} gets dh z directly): k_n = (1 - z)(1 - n^2), k_r = k_n gh_n r (1 - r),
        k_z = (h_prev - n) z (1 - z). Padded rows: k = 0, z = 1."""
        n_, B, H = hi - lo, self._act.shape[1], self.hidden_size
        a = self._act[lo:hi].reshape(n_, B, 3, H)
        r, z, n = a[:, :, 0], a[:, :, 1], a[:, :, 2]
        k = k_buf[:n_]
        kr, kz, khn, kn = k[:, :, 0], k[:, :, 1], k[:, :, 2], k[:, :, 3]
        xp.multiply(n, n, out=kn)
        xp.subtract(1, kn, out=kn)
        kn *= xp.subtract(1, z, out=khn)                       # k_n
        xp.subtract(1, r, out=kr)
        kr *= r
        kr *= self._ghn[lo:hi]
        kr *= kn                                               # k_r
        xp.subtract(1, z, out=kz)
        kz *= z
        kz *= xp.subtract(self._views(self._hb)[1][lo:hi], n, out=khn)   # k_z
        xp.multiply(kn, r, out=khn)                            # r k_n
        if self._mask is not None:
            m = self._m[lo:hi]
            k *= m[:, :, :, None]
            z = z * m + self._pad[lo:hi]
        return k, z

    def _backward_gpu(self, xp, gy, dhr, dgh, dgi, need_h0):
        B, H = dhr.shape
        gy = xp.zeros((self.steps, B, H), dtype=self._dt) if gy is None else gy
        hprev, keep = self._views(self._hb)[1], xp.empty_like(dhr)
        for t in reversed(self._order()):
            m = None if self._mask is None else self._m[t]
            kernels.gru_step_backward(self._act[t], self._ghn[t], hprev[t], gy[t], dhr, m, H, dgh[t], dgi[t], keep)
            if t != self._first() or need_h0:
                xp.matmul(dgh[t], self._w_hh, out=dhr)
                dhr += keep
