"""Fused recurrent cells: one graph node per time step, with a hand-derived backward.

They compute exactly what the fine-grained cells in minigrad/nn/cells.py compute gate by gate; the
derivations are written out in models/bptt and in the tutorial "BPTT by hand vs autograd".
Conventions (PyTorch's): xw = x W_ih^T + b_ih (+ b_hh for RNN and LSTM, where it can be folded in);
LSTM gates i, f, g, o; GRU gates r, z, n. Without h (and c) the state is zero and the recurrent
matmul is skipped. `mask` (B, 1) booleans: rows that are False keep their previous state (padding).
On CuPy the elementwise math of each cell runs as one kernel forward and one backward.
"""
from .. import backend
from ..autograd import Function
from . import cuda_kernels


class StepInputs(Function):
    """xw (T, B, G*H) -> one tensor per time step; in backward also dL/dW_hh for ALL steps in one matmul.

    dL/dW_hh = sum_t dgates_t^T h_prev_t. Rather than one small matmul per step inside each cell's
    backward, fused RNN and LSTM layers let this node compute the sum: it feeds every step, so its backward
    runs after all of theirs, and the gradient of its output t IS dgates_t (gates_t = xw_t + h_prev_t W_hh^T).
    The layer tells it the states once the loop has run (`states`: the (T, B, H) outputs, `h0`: the
    initial state or None); the cells are made with `weight_grad=False` so W_hh is not counted twice.
    """

    def __init__(self, reverse=False, lstm_steps=None):
        self.reverse, self.lstm_steps = reverse, lstm_steps
        self.states = self.h0 = None

    def set_states(self, states, h0):
        self.states, self.h0 = states, h0

    def forward(self, xw, w_hh):
        self.shape, self.dtype = xw.shape, xw.dtype
        return tuple(xw)                            # the views xw[0], xw[1], ...

    def backward(self, *gys):
        gx = None if self.lstm_steps is None else self.lstm_steps.gate_grads_if_all(gys)
        if gx is None:                              # gather the steps' gradients into one array
            xp = backend.array_module(next(g for g in gys if g is not None))
            gx = xp.empty(self.shape, dtype=self.dtype)
            for t, g in enumerate(gys):
                gx[t] = 0 if g is None else g
        gw = None
        if self.needs_grad[1]:
            T, G = self.shape[0], self.shape[2]
            H = self.states.shape[2]
            # step t read the state of step t-1 (t+1 in reverse); the first step read h0 (or zeros)
            later, earlier = (gx[:-1], self.states[1:]) if self.reverse else (gx[1:], self.states[:-1])
            gw = later.reshape(-1, G).T @ earlier.reshape(-1, H)
            if self.h0 is not None:
                gw += gx[-1 if self.reverse else 0].T @ self.h0
        return gx, gw


def _split_by_mask(mask, g, xp):
    """(part for padded rows, part for real rows) of gradient g: padded rows passed their state on untouched."""
    return xp.where(mask, 0, g), xp.where(mask, g, 0)


def _masked(mask, new, old, xp):
    """Rows where mask is False keep `old` (zeros when there is no old state)."""
    return xp.where(mask, new, 0 if old is None else old)


class RNNCell(Function):
    """h' = tanh(xw + h W_hh^T)  (or relu)."""

    def __init__(self, nonlinearity="tanh", mask=None, weight_grad=True):
        self.nonlinearity, self.mask, self.weight_grad = nonlinearity, mask, weight_grad

    def forward(self, xw, w_hh, h=None):
        xp = backend.array_module(xw)
        a = xw.copy() if h is None else h @ w_hh.T + xw
        self.h, self.w_hh = h, w_hh
        if self.nonlinearity == "tanh":
            self.y = xp.tanh(a, out=a)
        else:
            self.y = xp.maximum(a, 0, out=a)
        return self.y if self.mask is None else _masked(self.mask, self.y, h, xp)

    def backward(self, gh):
        xp = backend.array_module(gh)
        keep = None
        if self.mask is not None:
            keep, gh = _split_by_mask(self.mask, gh, xp)
        # tanh' = 1 - h'^2, relu' = [h' > 0]
        ga = gh * (1 - self.y * self.y) if self.nonlinearity == "tanh" else gh * (self.y > 0)
        if self.h is None:
            return ga, None
        gw = ga.T @ self.h if self.needs_grad[1] and self.weight_grad else None
        gh_prev = None
        if self.needs_grad[2]:
            gh_prev = ga @ self.w_hh
            if keep is not None:
                gh_prev += keep
        return ga, gw, gh_prev


class LSTMSteps:
    """Where the fused LSTM steps of one layer (one direction) keep what their backward needs.

    Made once per layer for T steps of batch B with W_hh, in the dtype of the gate inputs. Step k (in the order
    the steps run: reverse layers run t = T-1 ... 0) writes its gate inputs into act[k] scaled by -1 (gates i,
    f, o) and -2 (gate g), with W_hh pre-scaled the same way once per layer, so that one exp gives every
    activation: sigmoid(a) = 1 / (1 + exp(-a)) and tanh(a) = 2 sigmoid(2a) - 1. It then turns act[k] into its
    activations, writes its cell state into c[k + 1] and tanh(c) into tc[k]; c[0] is the initial cell state
    (zeros without one).
    Keeping the steps in shared arrays lets the backward compute the local derivatives of many steps at once
    (`factors`): ten array operations per block of steps instead of a dozen per step, the trick of the
    hand-written NumPy LSTM (models/numpy_lstm_lm.py). Blocks are sized to stay in the CPU cache (about
    256 KB): the whole sequence for small batches, a few steps for large ones. A lone cell makes LSTMSteps(1, ...).
    Backward writes each step's dL/d(gate inputs) into one (T, B, 4H) array in sequence order (`gate_grad`), which
    the layer's StepInputs then takes whole instead of copying T pieces together.
    """
    BLOCK_BYTES = 1 << 18

    def __init__(self, T, B, w_hh, dtype, reverse=False):
        xp = backend.array_module(w_hh)
        self.reverse = reverse
        self.gate_grads = self._gate_grad_views = None          # made by the first backward step
        G, H = w_hh.shape
        self.scale = xp.full(G, -1, dtype=dtype)
        self.scale[2 * H:3 * H] = -2
        self.w_scaled_t = (w_hh * self.scale[:, None]).T       # (H, 4H), for h @ w_scaled_t
        self.act = xp.empty((T, B, G), dtype=dtype)
        self.c = xp.empty((T + 1, B, H), dtype=dtype)
        self.tc = xp.empty((T, B, H), dtype=dtype)
        self.recurrent = xp.empty((B, G), dtype=dtype)
        self.n = 0
        self.block = max(1, min(T, self.BLOCK_BYTES // max(1, B * G * self.act.dtype.itemsize)))
        self._lo = self._hi = None                              # steps [lo, hi) have factors in _k, _kc

    def claim(self, c):
        """The slot of the next step; the first step stores the initial cell state c (None: zeros)."""
        k = self.n
        if k >= len(self.tc):
            raise RuntimeError(f"LSTMSteps: more than the {len(self.tc)} steps it was made for")
        if k == 0:
            self.c[0] = 0 if c is None else c
        self.n = k + 1
        return k

    def gate_grad(self, k):
        """The (B, 4H) slot where step k's backward writes dL/d(gate inputs): row t of gate_grads."""
        if self.gate_grads is None:
            self.gate_grads = backend.array_module(self.act).empty_like(self.act)
            self._gate_grad_views = [None] * len(self.act)
        t = len(self.act) - 1 - k if self.reverse else k
        view = self._gate_grad_views[t] = self.gate_grads[t]
        return view

    def gate_grads_if_all(self, gys):
        """gate_grads when gys are exactly the slots the steps wrote (t = 0 .. T-1), else None."""
        views = self._gate_grad_views
        if views is None or len(gys) != len(views) or not all(g is v for g, v in zip(gys, views)):
            return None
        return self.gate_grads

    def factors(self, k):
        """Step k's local derivatives (kg (B, 4, H), kc (B, H), f (B, H)): its backward is
        dc = gh kc + gc,  dL/d(gate pre-activations) = [dc kg_i, dc kg_f, dc kg_g, gh kg_o],  dL/dc_prev = dc f.
        Computed for the block of steps ending at k (backward visits the steps in reverse)."""
        if self._lo is None or not self._lo <= k < self._hi:
            self._compute_block(max(0, k + 1 - self.block), k + 1)
        j = k - self._lo
        H = self.tc.shape[2]
        return self._k[j], self._kc[j], self.act[k, :, H:2 * H]

    def _compute_block(self, lo, hi):
        xp = backend.array_module(self.act)
        _, B, G = self.act.shape
        H = G // 4
        if self._lo is None:
            self._k = xp.empty((self.block, B, 4, H), dtype=self.act.dtype)
            self._kc = xp.empty((self.block, B, H), dtype=self.act.dtype)
        n = hi - lo
        a = self.act[lo:hi].reshape(n, B, 4, H)                 # activations i, f, g, o (read only)
        i, g, o = a[:, :, 0], a[:, :, 2], a[:, :, 3]
        k, kc, tc = self._k[:n], self._kc[:n], self.tc[lo:hi]
        xp.subtract(1, a, out=k)
        k *= a                                                  # s (1 - s) for the sigmoid gates i, f, o
        k[:, :, 0] *= g                                         # k_i = g i (1 - i)
        k[:, :, 1] *= self.c[lo:hi]                             # k_f = c_prev f (1 - f)
        kg = k[:, :, 2]
        xp.multiply(g, g, out=kg)
        xp.subtract(1, kg, out=kg)
        kg *= i                                                 # k_g = i (1 - g^2)
        k[:, :, 3] *= tc                                        # k_o = tanh(c) o (1 - o)
        xp.multiply(tc, tc, out=kc)
        xp.subtract(1, kc, out=kc)
        kc *= o                                                 # kc = o (1 - tanh(c)^2): c -> h = o tanh(c)
        self._lo, self._hi = lo, hi


class LSTMCell(Function):
    """(h', c') from gates = xw + h W_hh^T:  c' = f*c + i*g,  h' = o*tanh(c').

    `steps`: the LSTMSteps shared by the steps of the layer (None: the cell makes its own)."""

    def __init__(self, mask=None, weight_grad=True, steps=None):
        self.mask, self.weight_grad, self.steps = mask, weight_grad, steps

    def forward(self, xw, w_hh, h=None, c=None):
        xp = backend.array_module(xw)
        H = w_hh.shape[1]
        steps = self.steps
        if steps is None:
            steps = self.steps = LSTMSteps(1, xw.shape[0], w_hh, xw.dtype)
        k = self.k = steps.claim(c)
        gates, c_prev, c_new, tc = steps.act[k], steps.c[k], steps.c[k + 1], steps.tc[k]
        xp.multiply(xw, steps.scale, out=gates)         # gates = -(xw + h W_hh^T), g block doubled
        if h is not None:
            gates += xp.matmul(h, steps.w_scaled_t, out=steps.recurrent)
        self.h, self.w_hh, self.has_c = h, w_hh, c is not None
        if backend.device_of(xw) == "cuda":
            h_new = cuda_kernels.lstm_forward(gates, c_prev, H, c_new, tc)
        else:
            act = backend.sigmoid_of_negated_(gates)   # i, f, o, and sigmoid(2 a_g) in the g block
            g = act[:, 2 * H:3 * H]
            g *= 2
            g -= 1
            xp.multiply(act[:, :H], g, out=c_new)
            if c is not None:
                c_new += act[:, H:2 * H] * c
            xp.tanh(c_new, out=tc)
            h_new = act[:, 3 * H:] * tc
        if self.mask is not None:
            h_new = _masked(self.mask, h_new, h, xp)
            c_new[...] = _masked(self.mask, c_new, c_prev, xp)
        return h_new, c_new

    def backward(self, gh, gc):
        steps, k = self.steps, self.k
        xp = backend.array_module(steps.c)
        B, H = steps.c.shape[1:]
        if gh is None:
            gh = xp.zeros((B, H), dtype=steps.c.dtype)
        keep_h = keep_c = None
        if self.mask is not None:
            keep_h, gh = _split_by_mask(self.mask, gh, xp)
            if gc is not None:
                keep_c, gc = _split_by_mask(self.mask, gc, xp)
        # the layer's StepInputs takes the gate gradients of all steps as one array when they are in its dtype
        dgates = steps.gate_grad(k) if gh.dtype == steps.act.dtype else xp.empty((B, 4 * H), dtype=gh.dtype)
        if backend.device_of(gh) == "cuda":
            dgates, gc_prev = cuda_kernels.lstm_backward(steps.act[k], steps.c[k], steps.tc[k], gh, gc, H, dgates)
            gc_prev = gc_prev if self.has_c else None
        else:
            kg, kc, f = steps.factors(k)
            dc = gh * kc                                # dL/dc' = direct gradient + path through h' = o tanh(c')
            if gc is not None:
                dc += gc
            d4 = dgates.reshape(B, 4, H)
            xp.multiply(dc[:, None, :], kg[:, :3], out=d4[:, :3])
            xp.multiply(gh, kg[:, 3], out=d4[:, 3])
            gc_prev = dc * f if self.has_c else None
        if self.h is None:
            return dgates, None
        gw = dgates.T @ self.h if self.needs_grad[1] and self.weight_grad else None
        gh_prev = dgates @ self.w_hh
        if keep_h is not None:
            gh_prev += keep_h
        if gc_prev is not None and keep_c is not None:
            gc_prev += keep_c
        return dgates, gw, gh_prev, gc_prev


class GRUCell(Function):
    """h' = (1-z)*n + z*h  with  r, z = sigmoid(xw_rz + hw_rz),  n = tanh(xw_n + r*hw_n),  hw = h W_hh^T + b_hh."""

    def __init__(self, mask=None):
        self.mask = mask

    def forward(self, xw, b_hh, w_hh=None, h=None):
        xp = backend.array_module(xw)
        H = xw.shape[1] // 3
        hw = b_hh + (0 if h is None else h @ w_hh.T)
        hw = xp.broadcast_to(hw, xw.shape) if h is None else hw
        self.h, self.w_hh, self.hw_n = h, w_hh, hw[:, 2 * H:]
        if backend.device_of(xw) == "cuda":
            self.rz, self.n, h_new = cuda_kernels.gru_forward(xw, hw, h, H)
        else:
            rz = xw[:, :2 * H] + hw[:, :2 * H]
            self.rz = backend.sigmoid_(rz)
            r, z = rz[:, :H], rz[:, H:]
            self.n = xp.tanh(xw[:, 2 * H:] + r * self.hw_n)
            h_new = self.n - z * self.n if h is None else self.n + z * (h - self.n)
        return h_new if self.mask is None else _masked(self.mask, h_new, h, xp)

    def backward(self, gh):
        xp = backend.array_module(gh)
        H = self.n.shape[1]
        keep = None
        if self.mask is not None:
            keep, gh = _split_by_mask(self.mask, gh, xp)
        h, n = self.h, self.n
        if backend.device_of(gh) == "cuda":
            dx, dhw, gh_direct = cuda_kernels.gru_backward(self.rz, n, self.hw_n, h, gh, H)
        else:
            r, z = self.rz[:, :H], self.rz[:, H:]
            dx = xp.empty((gh.shape[0], 3 * H), dtype=gh.dtype)
            dan = gh * (1 - z) * (1 - n * n)                         # through n = tanh(a_n)
            dx[:, 2 * H:] = dan
            dx[:, :H] = dan * self.hw_n * r * (1 - r)                # through r inside a_n
            hn_minus = (0 - n) if h is None else (h - n)
            dx[:, H:2 * H] = gh * hn_minus * z * (1 - z)             # through z
            dhw = dx.copy()
            dhw[:, 2 * H:] *= r                                      # a_n = xw_n + r * hw_n
            gh_direct = None if h is None else gh * z
        gb = dhw.sum(axis=0)
        if h is None:
            return dx, gb
        gw = dhw.T @ h if self.needs_grad[2] else None
        gh_prev = dhw @ self.w_hh + gh_direct
        if keep is not None:
            gh_prev += keep
        return dx, gb, gw, gh_prev
