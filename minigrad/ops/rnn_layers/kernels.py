"""CUDA kernels of the layer Functions: one CuPy ElementwiseKernel per step forward and one per step backward."""
# Each runs over the B*H elements of a step (i -> batch row b = i / H, unit j = i % H); gate k of a (B, G*H) row
# is reached as a raw array at b*G*H + k*H + j. `mask` is the step's (B, 1) mask in the data's dtype (1 real, 0
# padding): padded rows keep their state, get no gate gradient and pass their state gradients through (dh_keep:
# the part of dL/dh_prev that does not go through W_hh). Gates unscaled here: scaling saves NumPy passes only.
from ... import backend
from ..cuda_kernels import elementwise_kernel


def _kernel(name, in_params, out_params, body):
    return elementwise_kernel("layer_" + name, in_params, out_params, body)


_PADDED = "(has_mask && mask[i / H] == 0)"


def lstm_step(act, rec, c_prev, h_prev, mask, H, c, tc, h):
    """act (B, 4H): x W_ih^T + b in, activations [i f g o] out; adds rec (h_prev W_hh^T, or None); fills c, tc, h."""
    k = _kernel("lstm_fwd", "raw T rec, T c_prev, T h_prev, raw T mask, int32 H, bool has_rec, bool has_mask",
                "raw T act, T c, T tc, T h", f"""
        const int base = (i / H) * 4 * H + i % H;
        T a[4];
        for (int k = 0; k < 4; ++k) a[k] = act[base + k * H] + (has_rec ? rec[base + k * H] : (T)0);
        const T gi = 1 / (1 + exp(-a[0])), gf = 1 / (1 + exp(-a[1])), gg = tanh(a[2]), go = 1 / (1 + exp(-a[3]));
        act[base] = gi; act[base + H] = gf; act[base + 2 * H] = gg; act[base + 3 * H] = go;
        if {_PADDED} {{ c = c_prev; tc = tanh(c_prev); h = h_prev; }}
        else {{ c = gf * c_prev + gi * gg; tc = tanh(c); h = go * tc; }}
    """)
    _call(k, (rec, c_prev, h_prev, mask, H, rec is not None, mask is not None, act, c, tc, h), c)


def lstm_step_backward(act, c_prev, tc, gy, dhr, dc_in, mask, H, dA, dc_prev, dh_keep):
    """dh = gy + dhr (dL/dh_t), dc_in (dL/dc_t from later steps) -> dA (B, 4H), dc_prev, dh_keep."""
    k = _kernel("lstm_bwd", "raw T act, T c_prev, T tc, T gy, T dhr, T dc_in, raw T mask, int32 H, bool has_mask",
                "raw T dA, T dc_prev, T dh_keep", f"""
        const int base = (i / H) * 4 * H + i % H;
        const T dh = gy + dhr;
        if {_PADDED} {{
            for (int k = 0; k < 4; ++k) dA[base + k * H] = 0;
            dc_prev = dc_in; dh_keep = dh;
        }} else {{
            const T gi = act[base], gf = act[base + H], gg = act[base + 2 * H], go = act[base + 3 * H];
            const T dc = dh * go * (1 - tc * tc) + dc_in;
            dA[base] = dc * gg * gi * (1 - gi);
            dA[base + H] = dc * c_prev * gf * (1 - gf);
            dA[base + 2 * H] = dc * gi * (1 - gg * gg);
            dA[base + 3 * H] = dh * tc * go * (1 - go);
            dc_prev = dc * gf; dh_keep = 0;
        }}
    """)
    _call(k, (act, c_prev, tc, gy, dhr, dc_in, mask, H, mask is not None, dA, dc_prev, dh_keep), tc)


def gru_step(act, gh, b_hh, h_prev, mask, H, ghn, h):
    """act (B, 3H): x W_ih^T + b_ih in, [r z n] out; gh = h_prev W_hh^T (or None), b_hh (or None); fills ghn, h."""
    k = _kernel("gru_fwd", "raw T gh, raw T bhh, T h_prev, raw T mask, int32 H, bool has_gh, bool has_bhh, "
                "bool has_mask", "raw T act, T ghn, T h", f"""
        const int j = i % H, base = (i / H) * 3 * H + j;
        T hr = 0, hz = 0, hn = 0;
        if (has_gh) {{ hr = gh[base]; hz = gh[base + H]; hn = gh[base + 2 * H]; }}
        if (has_bhh) {{ hr += bhh[j]; hz += bhh[H + j]; hn += bhh[2 * H + j]; }}
        const T r = 1 / (1 + exp(-(act[base] + hr))), z = 1 / (1 + exp(-(act[base + H] + hz)));
        const T n = tanh(act[base + 2 * H] + r * hn);
        act[base] = r; act[base + H] = z; act[base + 2 * H] = n; ghn = hn;
        h = {_PADDED} ? h_prev : n + z * (h_prev - n);
    """)
    _call(k, (gh, b_hh, h_prev, mask, H, gh is not None, b_hh is not None, mask is not None, act, ghn, h), h)


def gru_step_backward(act, ghn, h_prev, gy, dhr, mask, H, dgh, dgi, dh_keep):
    """dh = gy + dhr -> dgh = dL/d(h W_hh^T + b_hh) (B, 3H), dgi = dL/d(x W_ih^T + b_ih), dh_keep (direct path)."""
    k = _kernel("gru_bwd", "raw T act, T ghn, T h_prev, T gy, T dhr, raw T mask, int32 H, bool has_mask",
                "raw T dgh, raw T dgi, T dh_keep", f"""
        const int base = (i / H) * 3 * H + i % H;
        const T dh = gy + dhr;
        if {_PADDED} {{
            for (int k = 0; k < 3; ++k) {{ dgh[base + k * H] = 0; dgi[base + k * H] = 0; }}
            dh_keep = dh;
        }} else {{
            const T r = act[base], z = act[base + H], n = act[base + 2 * H];
            const T dan = dh * (1 - z) * (1 - n * n);
            const T dar = dan * ghn * r * (1 - r), daz = dh * (h_prev - n) * z * (1 - z);
            dgi[base] = dar; dgi[base + H] = daz; dgi[base + 2 * H] = dan;
            dgh[base] = dar; dgh[base + H] = daz; dgh[base + 2 * H] = dan * r;
            dh_keep = dh * z;
        }}
    """)
    _call(k, (act, ghn, h_prev, gy, dhr, mask, H, mask is not None, dgh, dgi, dh_keep), ghn)


def rnn_step(rec, h_prev, mask, H, relu, h):
    """h (B, H): x W_ih^T + b in, phi(h + rec) out (rec = h_prev W_hh^T, or None); padded rows keep h_prev."""
    k = _kernel("rnn_fwd", "T rec, T h_prev, raw T mask, int32 H, bool has_rec, bool has_mask, bool relu",
                "raw T h", f"""
        T a = h[i] + (has_rec ? rec : (T)0);
        a = relu ? (a > 0 ? a : (T)0) : tanh(a);
        h[i] = {_PADDED} ? h_prev : a;
    """)
    _call(k, (rec, h_prev, mask, H, rec is not None, mask is not None, relu, h), h_prev)


def rnn_step_backward(h, gy, dhr, mask, H, relu, da, dh_keep):
    """dh = gy + dhr -> da = dL/d(pre-activation), dh_keep."""
    k = _kernel("rnn_bwd", "T h, T gy, T dhr, raw T mask, int32 H, bool has_mask, bool relu", "T da, T dh_keep", f"""
        const T dh = gy + dhr;
        if {_PADDED} {{ da = 0; dh_keep = dh; }}
        else {{ da = dh * (relu ? (h > 0 ? (T)1 : (T)0) : 1 - h * h); dh_keep = 0; }}
    """)
    _call(k, (h, gy, dhr, mask, H, mask is not None, relu, da, dh_keep), h)


def _call(kernel, args, like):
    """Launch with None arrays replaced by a same-typed placeholder and H as int32."""
    cp = backend.cupy_module()
    kernel(*[like if a is None else (cp.int32(a) if type(a) is int else a) for a in args])
