"""CUDA kernels for the fused recurrent cells: each cell's elementwise math as ONE kernel launch
forward and one backward (CuPy ElementwiseKernel). Same equations as the NumPy code in rnn_cells.py.

Kernels are compiled the first time a cell runs on a GPU; nothing here runs on the CPU.
"""
from .. import backend

_kernels = {}


def elementwise_kernel(name, in_params, out_params, body):
    """The CuPy ElementwiseKernel of this name, compiled the first time it is asked for."""
    if name not in _kernels:
        cp = backend.cupy_module()
        _kernels[name] = cp.ElementwiseKernel(in_params, out_params, body, "minigrad_" + name)
    return _kernels[name]


def _sig(x):
    return f"(1 / (1 + exp(-({x}))))"


def lstm_step_forward(gates, c_prev, H):
    """gates (B, 4H): pre-activations of i, f, g, o -> activations (B, 4H), c' (B, H), tanh(c'), h'."""
    cp = backend.cupy_module()
    gates = cp.ascontiguousarray(gates)
    act = cp.empty_like(gates)
    c_new, tc, h_new = (cp.empty_like(c_prev) for _ in range(3))
    k = elementwise_kernel("lstm_step_fwd", "raw T gates, T c_prev, int32 H", "raw T act, T c_new, T tc, T h_new", f"""
        const int b = i / H, j = i % H, base = b * 4 * H + j;
        const T ai = {_sig('gates[base]')}, af = {_sig('gates[base + H]')};
        const T ag = tanh(gates[base + 2 * H]), ao = {_sig('gates[base + 3 * H]')};
        act[base] = ai; act[base + H] = af; act[base + 2 * H] = ag; act[base + 3 * H] = ao;
        c_new = ai * ag + af * c_prev;
        tc = tanh(c_new);
        h_new = ao * tc;
    """)
    k(gates, cp.ascontiguousarray(c_prev), cp.int32(H), act, c_new, tc, h_new)
    return act, c_new, tc, h_new


def lstm_step_backward(act, c_prev, tc, gh, gc, H):
    """-> dL/d(gate pre-activations) (B, 4H), dL/dc_prev (B, H)."""
    cp = backend.cupy_module()
    dgates = cp.empty_like(act)
    gc_prev = cp.empty_like(tc)
    has_gc = gc is not None
    k = elementwise_kernel("lstm_step_bwd", "raw T act, T c_prev, T tc, T gh, raw T gc, int32 H, bool has_gc",
                "raw T dgates, T gc_prev", """
        const int b = i / H, j = i % H, base = b * 4 * H + j;
        const T ai = act[base], af = act[base + H], ag = act[base + 2 * H], ao = act[base + 3 * H];
        const T dc = gh * ao * (1 - tc * tc) + (has_gc ? gc[i] : (T)0);
        dgates[base] = dc * ag * ai * (1 - ai);
        dgates[base + H] = dc * c_prev * af * (1 - af);
        dgates[base + 2 * H] = dc * ai * (1 - ag * ag);
        dgates[base + 3 * H] = gh * tc * ao * (1 - ao);
        gc_prev = dc * af;
    """)
    gh, c_prev = cp.ascontiguousarray(gh), cp.ascontiguousarray(c_prev)
    k(act, c_prev, tc, gh, cp.ascontiguousarray(gc) if has_gc else tc, cp.int32(H), has_gc, dgates, gc_prev)
    return dgates, gc_prev


def gru_forward(xw, hw, h, H):
    """-> rz (B, 2H) [r z], n (B, H), h' (B, H)."""
    cp = backend.cupy_module()
    B = xw.shape[0]
    hw = cp.ascontiguousarray(cp.broadcast_to(hw, xw.shape))
    rz = cp.empty((B, 2 * H), dtype=xw.dtype)
    n, h_new = cp.empty((B, H), dtype=xw.dtype), cp.empty((B, H), dtype=xw.dtype)
    has_h = h is not None
    k = elementwise_kernel("gru_fwd", "raw T xw, raw T hw, raw T h, int32 H, bool has_h", "raw T rz, T n, T h_new", f"""
        const int b = i / H, j = i % H, base = b * 3 * H + j;
        const T r = {_sig('xw[base] + hw[base]')}, z = {_sig('xw[base + H] + hw[base + H]')};
        rz[b * 2 * H + j] = r; rz[b * 2 * H + H + j] = z;
        n = tanh(xw[base + 2 * H] + r * hw[base + 2 * H]);
        h_new = (1 - z) * n + (has_h ? z * h[i] : (T)0);
    """)
    xw = cp.ascontiguousarray(xw)
    k(xw, hw, h if has_h else n, cp.int32(H), has_h, rz, n, h_new)
    return rz, n, h_new


def gru_backward(rz, n, hw_n, h, gh, H):
    """-> d(xw) (B, 3H), d(hw) (B, 3H), the direct part of dL/dh (or None without h)."""
    cp = backend.cupy_module()
    B = n.shape[0]
    hw_n = cp.ascontiguousarray(cp.broadcast_to(hw_n, n.shape))
    dx, dhw = cp.empty((B, 3 * H), dtype=n.dtype), cp.empty((B, 3 * H), dtype=n.dtype)
    gh_direct = cp.empty_like(n)
    has_h = h is not None
    k = elementwise_kernel("gru_bwd", "raw T rz, T n, T hw_n, raw T h, T gh, int32 H, bool has_h",
                "raw T dx, raw T dhw, T gh_direct", """
        const int b = i / H, j = i % H, base = b * 3 * H + j;
        const T r = rz[b * 2 * H + j], z = rz[b * 2 * H + H + j];
        const T hp = has_h ? h[i] : (T)0;
        const T dan = gh * (1 - z) * (1 - n * n);
        const T dar = dan * hw_n * r * (1 - r);
        const T daz = gh * (hp - n) * z * (1 - z);
        dx[base] = dar; dx[base + H] = daz; dx[base + 2 * H] = dan;
        dhw[base] = dar; dhw[base + H] = daz; dhw[base + 2 * H] = dan * r;
        gh_direct = gh * z;
    """)
    k(rz, n, hw_n, h if has_h else n, gh, cp.int32(H), has_h, dx, dhw, gh_direct)
    return dx, dhw, (gh_direct if has_h else None)
