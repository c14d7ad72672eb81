"""GRULayer: a whole GRU layer-direction as one node (equations: models/bptt/gru.py).
gi = x W_ih^T + b_ih, gh = h W_hh^T + b_hh;  r, z = sigmoid(gi + gh),  n = tanh(gi_n + r gh_n),  h' = (1-z) n + z h."""
# CPU: the r and z blocks are kept scaled (weights and biases scaled once) so one tanh or exp gives both; backward
# computes the local derivatives per cache-sized block of steps (two products and one matmul per step); weight
# gradients are single matmuls over all steps.
from ... import backend
from . import kernels
from .common import SIGMOID_SCALE, WORKSPACE, RecurrentLayer, gate_mode, quiet, sigmoid_of_scaled_, transposed


class GRULayer(RecurrentLayer):
    """(out (T, B, H), h_n (B, H)) from x (T, B, In), w_ih (3H, In), w_hh (3H, H), optional biases (3H,), h0."""
    kind, gates = "GRU", 3
    _scratch = ("_act", "_ghn")

    def _cell(self):
        from ...nn.cells import GRUGatedCell
        return GRUGatedCell()

    def forward(self, *arrays):
        a = self._setup(arrays)
        x, w_ih, w_hh = a["x"], a["w_ih"], a["w_hh"]
        xp = backend.array_module(x)
        T, B, _ = x.shape
        H, dt = self.hidden_size, self._dt
        b_hh = a.get("b_hh")
        scale, mode = None, gate_mode(dt)
        if not self._gpu:                                      # r and z scaled: one tanh or exp gives both
            scale = xp.ones(3 * H, dtype=dt)
            scale[:2 * H] = SIGMOID_SCALE[mode]
            b_hh = None if b_hh is None else b_hh * scale
        act = WORKSPACE.take(xp, (T, B, 3 * H), dt)
        self._input_projection(xp, x, w_ih, scale, a.get("b_ih"), act)
        hb, hcur, hprev = self._state_buffer(xp, B, H, a.get("h0"))
        ghn = WORKSPACE.take(xp, (T, B, H), dt)                # h_{t-1} W_hn^T + b_hn: backward needs it
        rec, scratch, w_rec = xp.empty((B, 3 * H), dtype=dt), xp.empty((B, H), dtype=dt), transposed(xp, w_hh, scale)
        has_h, first = "h0" in a, self._first()
        if self._gpu:
            m = None if self._mask is None else self._m
            for t, g, h_prev, ghn_t, h, m_t in self._steps(range(T), act, hprev, ghn, hcur, m):
                gh = xp.dot(h_prev, w_rec, out=rec) if has_h or t != first else None
                kernels.gru_step(g, gh, b_hh, h_prev, m_t, H, ghn_t, h)
        else:
            pad = None if self._mask is None else self._padded
            steps = self._steps(range(T), act, act[:, :, :2 * H], act[:, :, :H], act[:, :, H:2 * H],
                                act[:, :, 2 * H:], hprev, ghn, hcur, pad)
            with quiet(x):
                for t, g, rz, r, z, n, h_prev, ghn_t, h, pad_t in steps:
                    gh = xp.dot(h_prev, w_rec, out=rec) if has_h or t != first else None
                    if gh is not None and b_hh is not None:
                        gh += b_hh
                    elif b_hh is not None:
                        gh = b_hh[None, :]
                    if gh is None:
                        ghn_t[...] = 0
                    else:
                        rz += gh[:, :2 * H]
                        xp.copyto(ghn_t, gh[:, 2 * H:])
                    sigmoid_of_scaled_(rz, xp, mode)           # r, z
                    n += xp.multiply(r, ghn_t, out=scratch)
                    xp.tanh(n, out=n)
                    if has_h or t != first:                    # h = n + z (h_prev - n)
                        xp.subtract(h_prev, n, out=h)
                        h *= z
                        h += n
                    else:
                        xp.multiply(z, n, out=h)
                        xp.subtract(n, h, out=h)
                    if pad_t is not None:                      # padded rows keep their state
                        xp.copyto(h, h_prev, where=pad_t)
        self._x, self._w_ih, self._w_hh, self._has_h0 = x, w_ih, w_hh, has_h
        self._act, self._ghn, self._hb = act, ghn, hb
        return hcur, self._final(hb)

    def backward(self, gy, gh_n):
        T, B, H, dt = self.steps, self._x.shape[1], self.hidden_size, self._dt
        xp = backend.array_module(self._act)
        gy = None if gy is None else gy.astype(dt, copy=False)
        dh_next = xp.zeros((B, H), dtype=dt) if gh_n is None else gh_n.astype(dt, order="C")    # a copy: written into
        dgh = WORKSPACE.take(xp, (T, B, 3 * H), dt)            # dL/d(h W_hh^T + b_hh) of every step
        dgi = WORKSPACE.take(xp, (T, B, 3 * H), dt)            # dL/d(x W_ih^T + b_ih)
        need_h0 = self._need("h0")
        run = self._backward_gpu if self._gpu else self._backward_cpu
        run(xp, gy, dh_next, dgh, dgi, need_h0)
        grads = {"h0": dh_next if need_h0 else None}
        self._input_grads(dgi, grads, dA_hh=dgh)
        if self._need("w_hh"):
            grads["w_hh"] = self._recurrent_weight_grad(dgh, self._views(self._hb)[1], self._has_h0)
        WORKSPACE.give(dgh, dgi)
        return self._result(grads)

    def _backward_cpu(self, xp, gy, dh_next, dgh, dgi, need_h0):
        T, (B, H), dt = self.steps, dh_next.shape, self._dt
        dgh4, dgi4 = dgh.reshape(T, B, 3, H), dgi.reshape(T, B, 3, H)
        dh, scratch = xp.empty_like(dh_next), xp.empty_like(dh_next)
        dh3 = dh[:, None, :]
        blocks = self._blocks(B * 4 * H * dt.itemsize)
        k_buf = xp.empty((blocks[0][1] - blocks[0][0] if blocks else 0, B, 4, H), dtype=dt)
        multiply, first = xp.multiply, self._first()
        for lo, hi in blocks:
            k, z = self._factors(xp, lo, hi, k_buf)
            steps = self._steps(range(lo, hi), None if gy is None else gy[lo:hi], k[:, :, :3], k[:, :, 3], z,
                                dgh[lo:hi], dgh4[lo:hi], dgi4[lo:hi, :, 2], backward=True)
            for t, gy_t, k_h, k_n, z_t, dgh_t, dgh4_t, dan_t in steps:
                if gy_t is None:
                    xp.copyto(dh, dh_next)
                else:
                    xp.add(gy_t, dh_next, out=dh)              # dL/dh_t: output + later steps
                multiply(dh3, k_h, out=dgh4_t)                 # [da_r, da_z, r da_n]
                multiply(dh, k_n, out=dan_t)                   # da_n
                if t != first or need_h0:
                    xp.dot(dgh_t, self._w_hh, out=dh_next)     # dL/dh_{t-1}: through the gates
                    dh_next += multiply(dh, z_t, out=scratch)  # ... and directly (z; 1 if padded)
        dgi[:, :, :2 * H] = dgh[:, :, :2 * H]

    def _factors(self, xp, lo, hi, k_buf):
        """Steps [lo, hi): k = [k_r, k_z, r k_n, k_n] (n, B, 4, H) with da = dh k, and z (dh_prev gets dh z):
        k_n = (1 - z)(1 - n^2), k_r = k_n gh_n r (1 - r), k_z = (h_prev - n) z (1 - z). Padded rows: k = 0, z = 1."""
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
        T, (B, H), first = self.steps, dhr.shape, self._first()
        gy = xp.zeros((T, B, H), dtype=self._dt) if gy is None else gy
        keep = xp.empty_like(dhr)
        m = None if self._mask is None else self._m
        steps = self._steps(range(T), self._act, self._ghn, self._views(self._hb)[1], gy, dgh, dgi, m, backward=True)
        for t, act_t, ghn_t, h_prev, gy_t, dgh_t, dgi_t, m_t in steps:
            kernels.gru_step_backward(act_t, ghn_t, h_prev, gy_t, dhr, m_t, H, dgh_t, dgi_t, keep)
            if t != first or need_h0:
                xp.dot(dgh_t, self._w_hh, out=dhr)
                dhr += keep
