"""A fast hand-written NumPy LSTM character language model: the baseline for the CPU benchmark.

    tokens (B, T) -> embedding (K -> E), or one-hot -> L stacked LSTM layers (hidden H)
                  -> linear decoder (H -> K) -> softmax cross-entropy, mean over the B*T tokens
    train_step = forward + backward + Adam, over ONE flat parameter buffer

Plain NumPy, no minigrad: the point is to measure how fast careful NumPy can go. The equations
are those of models/bptt/lstm.py (PyTorch's layout: gates i, f, g, o stacked in weight_ih_l{k});
what is added here is speed (see PERF_NOTES):

- every parameter and gradient is a view into one flat array, so Adam is a few whole-array calls;
- each layer's input projection for all T steps is one matmul before the time loop, and the
  recurrent matmul is skipped at t = 0 (the initial state is zero);
- one exp per step for all four gates: the forward uses a copy of the weights scaled by -1 (i, f, o)
  and -2 (g), so exp(...) gives exp(-a) and exp(-2 a_g); then tanh(a_g) = 2 sigma(2 a_g) - 1;
- backward factors (sigma', tanh', ...) are computed for all steps at once, so the reverse loop
  does six small calls and one matmul per step; weight gradients are matmuls over all steps at once;
- the embedding gradient is a one-hot matrix product (no np.add.at); all buffers are reused.
The initial state is zero at every call (no state carried between batches).
"""
import numpy as np


class NumpyLSTMLM:
    """LSTM language model with hand-written backward and a flat-buffer Adam.

    model = NumpyLSTMLM(vocab, embed, hidden, layers, seed); embed=None (or 0) feeds one-hot tokens.
    model.params / model.grads: dicts of views into model.flat / model.flat_grad, PyTorch names
    ('embedding.weight', 'lstm.weight_ih_l0', ..., 'decoder.weight', 'decoder.bias').
    """

    def __init__(self, vocab, embed, hidden, layers=1, seed=0, dtype=np.float32,
                 lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        if layers < 1 or hidden < 1 or vocab < 1:
            raise ValueError(f"NumpyLSTMLM: vocab, hidden and layers must be >= 1; got {vocab}, {hidden}, {layers}")
        self.vocab, self.embed, self.hidden, self.layers = vocab, (embed or None), hidden, layers
        self.dtype = np.dtype(dtype)
        self.lr, self.betas, self.eps, self.step_count = lr, betas, eps, 0
        K, E, H = vocab, self.embed, hidden
        shapes = {}
        if E:
            shapes["embedding.weight"] = (K, E)
        for k in range(layers):
            inp = (E or K) if k == 0 else H
            shapes.update({f"lstm.weight_ih_l{k}": (4 * H, inp), f"lstm.weight_hh_l{k}": (4 * H, H),
                           f"lstm.bias_ih_l{k}": (4 * H,), f"lstm.bias_hh_l{k}": (4 * H,)})
        shapes.update({"decoder.weight": (K, H), "decoder.bias": (K,)})
        size = sum(int(np.prod(s)) for s in shapes.values())
        self.flat, self.flat_grad = np.zeros(size, self.dtype), np.zeros(size, self.dtype)
        self.params, self.grads, offset = {}, {}, 0
        for name, shape in shapes.items():
            n = int(np.prod(shape))
            self.params[name] = self.flat[offset:offset + n].reshape(shape)
            self.grads[name] = self.flat_grad[offset:offset + n].reshape(shape)
            offset += n
        rng = np.random.default_rng(seed)          # PyTorch's default initialisations
        for name, p in self.params.items():
            if name == "embedding.weight":
                p[...] = rng.standard_normal(p.shape)
            else:
                bound = 1 / np.sqrt(H)             # LSTM: 1/sqrt(H); Linear: 1/sqrt(fan_in) = 1/sqrt(H)
                p[...] = rng.uniform(-bound, bound, p.shape)
        self.m, self.v = np.zeros_like(self.flat), np.zeros_like(self.flat)
        self._adam_tmp = np.zeros_like(self.flat)
        self._buffers, self._buffers_key = None, None
        # minus the gate pre-activations, with the g block doubled: exp then gives exp(-a) and exp(-2 a_g)
        self._scale = np.full((4 * H, 1), -1.0, self.dtype)
        self._scale[2 * H:3 * H] = -2.0
        self._scaled = {name: np.zeros_like(p) for name, p in self.params.items() if name.startswith("lstm.weight")}
        self._scaled_bias = [np.zeros(4 * H, self.dtype) for _ in range(layers)]

    # ------------------------------------------------------------------ buffers
    def _get_buffers(self, B, T):
        """Per-(B, T) work arrays, allocated once and reused by every call with the same shape."""
        if self._buffers_key == (B, T):
            return self._buffers
        H, K, L, dt = self.hidden, self.vocab, self.layers, self.dtype
        z = lambda *s: np.zeros(s, dt)  # noqa: E731
        buf = {"onehot": z(T * B, K), "logits": z(T * B, K), "dh_top": z(T, B, H),
               "dh": z(B, H), "dc": z(B, H), "dc_next": z(B, H), "dh_next": z(B, H),
               "tmp4": z(B, 4 * H), "tmpH": z(B, H), "k1": z(T, B, H), "k2": z(T, B, H), "k3": z(T, B, 3, H),
               "dA": z(T, B, 4 * H),
               "gates": [z(T, B, 4 * H) for _ in range(L)], "c": [z(T, B, H) for _ in range(L)],
               "tanh_c": [z(T, B, H) for _ in range(L)], "h": [z(T, B, H) for _ in range(L)]}
        if self.embed:
            buf["emb"], buf["demb"] = z(T, B, self.embed), z(T * B, self.embed)
        self._buffers, self._buffers_key = buf, (B, T)
        return buf

    def _check(self, x, y):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2 or x.shape != y.shape or not (np.issubdtype(x.dtype, np.integer)
                                                     and np.issubdtype(y.dtype, np.integer)):
            raise ValueError(f"NumpyLSTMLM: x and y must be int arrays of the same shape (B, T); "
                             f"got {x.shape} {x.dtype} and {y.shape} {y.dtype}")
        for name, a in (("x", x), ("y", y)):
            if a.size and (a.min() < 0 or a.max() >= self.vocab):
                raise ValueError(f"NumpyLSTMLM: {name} tokens must lie in [0, {self.vocab}); "
                                 f"got min {a.min()}, max {a.max()}")
        return x, y

    # ------------------------------------------------------------------ forward
    def _forward(self, x, y):
        """Forward pass; fills the buffers and returns the mean cross-entropy."""
        B, T = x.shape
        H, L, buf, P = self.hidden, self.layers, self._get_buffers(B, T), self.params
        xt = x.T                                              # time-major (T, B)
        onehot = buf["onehot"]
        onehot.fill(0)
        onehot[np.arange(T * B), xt.reshape(-1)] = 1
        scale, sw = self._scale, self._scaled
        inp = None
        for k in range(L):
            G, C, TC, Hs = buf["gates"][k], buf["c"][k], buf["tanh_c"][k], buf["h"][k]
            w_ih = np.multiply(P[f"lstm.weight_ih_l{k}"], scale, out=sw[f"lstm.weight_ih_l{k}"])
            w_hh = np.multiply(P[f"lstm.weight_hh_l{k}"], scale, out=sw[f"lstm.weight_hh_l{k}"])
            bias = np.add(P[f"lstm.bias_ih_l{k}"], P[f"lstm.bias_hh_l{k}"], out=self._scaled_bias[k])
            bias *= scale[:, 0]
            G2 = G.reshape(T * B, 4 * H)
            if k == 0 and self.embed:
                np.take(P["embedding.weight"], xt, axis=0, out=buf["emb"])
                np.matmul(buf["emb"].reshape(T * B, -1), w_ih.T, out=G2)
            elif k == 0:
                np.take(w_ih.T, xt.reshape(-1), axis=0, out=G2)   # one-hot input: pick columns
            else:
                np.matmul(inp.reshape(T * B, H), w_ih.T, out=G2)   # all T steps in one matmul
            G2 += bias
            for t in range(T):
                a = G[t]
                if t > 0:                                     # h_0 = 0: no recurrent term at t = 0
                    np.matmul(Hs[t - 1], w_hh.T, out=buf["tmp4"])
                    a += buf["tmp4"]
                np.exp(a, out=a)
                a += 1
                np.reciprocal(a, out=a)                       # sigma for i, f, o and sigma(2 a_g)
                i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
                g *= 2
                g -= 1                                        # tanh(a_g) = 2 sigma(2 a_g) - 1
                np.multiply(i, g, out=C[t])                   # c_t = f * c_{t-1} + i * g
                if t > 0:
                    np.multiply(f, C[t - 1], out=buf["tmpH"])
                    C[t] += buf["tmpH"]
                np.tanh(C[t], out=TC[t])
                np.multiply(o, TC[t], out=Hs[t])              # h_t = o * tanh(c_t)
            inp = Hs
        logits = buf["logits"]
        np.matmul(inp.reshape(T * B, H), P["decoder.weight"].T, out=logits)
        logits += P["decoder.bias"]
        logits -= logits.max(axis=1, keepdims=True)           # log-sum-exp, stable
        picked = logits[np.arange(T * B), y.T.reshape(-1)]    # o[y] - max (a copy)
        np.exp(logits, out=logits)
        total = logits.sum(axis=1, keepdims=True)
        logits /= total                                       # now the probabilities p
        return float((np.log(total[:, 0]) - picked).mean(dtype=np.float64))   # -log p[y]

    # ------------------------------------------------------------------ backward
    def _backward(self, x, y):
        """Backward pass after _forward: fills self.grads (the flat gradient buffer)."""
        B, T = x.shape
        H, L, buf, P, Gr = self.hidden, self.layers, self._buffers, self.params, self.grads
        N = T * B
        dlogits = buf["logits"]                               # p - onehot(y), / N for the mean
        dlogits[np.arange(N), y.T.reshape(-1)] -= 1
        dlogits /= N
        top = buf["h"][L - 1].reshape(N, H)
        np.matmul(dlogits.T, top, out=Gr["decoder.weight"])
        np.sum(dlogits, axis=0, out=Gr["decoder.bias"])
        dh_out = buf["dh_top"]
        np.matmul(dlogits, P["decoder.weight"], out=dh_out.reshape(N, H))
        k1, k2, k3, dA = buf["k1"], buf["k2"], buf["k3"], buf["dA"]
        dA4 = dA.reshape(T, B, 4, H)
        dh, dc, dc_next, dh_next = buf["dh"], buf["dc"], buf["dc_next"], buf["dh_next"]
        for k in reversed(range(L)):
            S, C, TC, Hs = buf["gates"][k].reshape(T, B, 4, H), buf["c"][k], buf["tanh_c"][k], buf["h"][k]
            i, f, g, o = S[:, :, 0], S[:, :, 1], S[:, :, 2], S[:, :, 3]
            # factors for all steps at once: dA_o = dh * k1, dc = dh * k2 + dc_next, dA_ifg = dc * k3
            np.subtract(1, o, out=k1)
            k1 *= o
            k1 *= TC                                          # tanh(c) o (1 - o)
            np.multiply(TC, TC, out=k2)
            np.subtract(1, k2, out=k2)
            k2 *= o                                           # o (1 - tanh(c)^2)
            np.subtract(1, i, out=k3[:, :, 0])
            k3[:, :, 0] *= i
            k3[:, :, 0] *= g                                  # g i (1 - i)
            np.subtract(1, f, out=k3[:, :, 1])
            k3[:, :, 1] *= f
            k3[0, :, 1] = 0                                   # c_0 = 0
            k3[1:, :, 1] *= C[:-1]                            # c_{t-1} f (1 - f)
            np.multiply(g, g, out=k3[:, :, 2])
            np.subtract(1, k3[:, :, 2], out=k3[:, :, 2])
            k3[:, :, 2] *= i                                  # i (1 - g^2)
            w_hh = P[f"lstm.weight_hh_l{k}"]
            dc_next.fill(0)
            for t in reversed(range(T)):
                if t == T - 1:
                    dh[...] = dh_out[t]
                else:
                    np.add(dh_out[t], dh_next, out=dh)        # from the layer above + from step t+1
                np.multiply(dh, k1[t], out=dA4[t, :, 3])
                np.multiply(dh, k2[t], out=dc)
                dc += dc_next
                np.multiply(dc[:, None, :], k3[t], out=dA4[t, :, :3])
                np.multiply(dc, f[t], out=dc_next)
                if t > 0:                                     # dL/dh_0 is not needed: h_0 = 0
                    np.matmul(dA[t], w_hh, out=dh_next)
            dA2 = dA.reshape(N, 4 * H)
            np.sum(dA2, axis=0, out=Gr[f"lstm.bias_ih_l{k}"])
            Gr[f"lstm.bias_hh_l{k}"][...] = Gr[f"lstm.bias_ih_l{k}"]
            if T > 1:
                np.matmul(dA[1:].reshape(N - B, 4 * H).T, Hs[:-1].reshape(N - B, H), out=Gr[f"lstm.weight_hh_l{k}"])
            else:
                Gr[f"lstm.weight_hh_l{k}"].fill(0)
            if k > 0:
                np.matmul(dA2.T, buf["h"][k - 1].reshape(N, H), out=Gr[f"lstm.weight_ih_l{k}"])
                np.matmul(dA2, P[f"lstm.weight_ih_l{k}"], out=dh_out.reshape(N, H))
            elif self.embed:
                np.matmul(dA2.T, buf["emb"].reshape(N, -1), out=Gr["lstm.weight_ih_l0"])
                demb = buf["demb"]
                np.matmul(dA2, P["lstm.weight_ih_l0"], out=demb)
                np.matmul(buf["onehot"].T, demb, out=Gr["embedding.weight"])   # scatter-add as a matmul
            else:
                np.matmul(dA2.T, buf["onehot"], out=Gr["lstm.weight_ih_l0"])

    # ------------------------------------------------------------------ public API
    def loss(self, x_tokens, y_tokens):
        """Mean cross-entropy of predicting y_tokens (B, T) from x_tokens (B, T); no gradient."""
        x, y = self._check(x_tokens, y_tokens)
        with np.errstate(over="ignore"):                      # exp(-a) = inf for a << 0 gives sigma = 0
            return self._forward(x, y)

    def loss_and_grad(self, x_tokens, y_tokens):
        """Mean cross-entropy; fills self.grads (views into self.flat_grad) with its gradient."""
        x, y = self._check(x_tokens, y_tokens)
        with np.errstate(over="ignore"):                      # exp(-a) = inf for a << 0 gives sigma = 0
            loss = self._forward(x, y)
        self._backward(x, y)
        return loss

    def adam_step(self, lr=None):
        """One Adam update of every parameter at once (PyTorch's rule, no weight decay)."""
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        self.step_count += 1
        g, m, v, tmp = self.flat_grad, self.m, self.v, self._adam_tmp
        m *= b1
        np.multiply(g, 1 - b1, out=tmp)
        m += tmp                                              # m = b1 m + (1 - b1) g
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v += tmp                                              # v = b2 v + (1 - b2) g^2
        bc1, bc2 = 1 - b1 ** self.step_count, 1 - b2 ** self.step_count
        np.sqrt(v, out=tmp)
        tmp *= 1 / np.sqrt(bc2)
        tmp += self.eps                                       # sqrt(v_hat) + eps
        np.divide(m, tmp, out=tmp)
        tmp *= lr / bc1
        self.flat -= tmp                                      # p -= lr m_hat / (sqrt(v_hat) + eps)

    def train_step(self, x_tokens, y_tokens, lr=None):
        """Forward, backward and one Adam step; returns the loss (float) before the update."""
        loss = self.loss_and_grad(x_tokens, y_tokens)
        self.adam_step(lr)
        return loss
