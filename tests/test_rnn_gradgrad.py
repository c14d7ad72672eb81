"""Second derivatives through RNN, LSTM and GRU on all three paths (float64).

The fine-grained path (unroll=True, fused=False) is twice differentiable op by op; the fused steps and the
speed path's layer nodes hand the engine their `decompose` (the same math in plain ops). Checked here: each
decomposition computes exactly its node's outputs, the gradient of a gradient penalty is the same on the three
paths and agrees with finite differences of first-order gradients, and a 1,000-step unrolled LSTM survives a
double backward.
"""
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.ops import rnn_cells, rnn_layers

F64 = mg.float64
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
PATHS = {"fine": dict(unroll=True, fused=False), "fused": dict(unroll=True, fused=True), "speed": dict(unroll=False)}
CONFIGS = [
    dict(),
    dict(num_layers=2, bidirectional=True, lengths=True),
    dict(bias=False, state=True, batch_first=True),
    dict(num_layers=2, bidirectional=True, lengths=True, state=True),
]


def t64(array, requires_grad=False, device="cpu"):
    return mg.tensor(np.asarray(array, dtype=np.float64), dtype=F64, requires_grad=requires_grad, device=device)


def make(kind, path, input_size=3, hidden_size=3, device="cpu", **kw):
    mg.manual_seed(11)
    kw = {k: v for k, v in kw.items() if k in ("num_layers", "bidirectional", "bias", "batch_first")}
    kw.update(PATHS[path])
    if kind.startswith("rnn"):
        return nn.RNN(input_size, hidden_size, nonlinearity=kind[4:], dtype=F64, device=device, **kw)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[kind](input_size, hidden_size, dtype=F64, device=device, **kw)


def problem(m, cfg, T=4, B=3):
    """(x, initial states, lengths, output weights) drawn from a fixed seed, on the module's device."""
    rng = np.random.default_rng(5)
    device = next(m.parameters()).device
    x = t64(rng.standard_normal((B, T, m.input_size) if m.batch_first else (T, B, m.input_size)), True, device)
    D = 2 if m.bidirectional else 1
    states = [t64(rng.standard_normal((m.num_layers * D, B, m.hidden_size)), True, device)
              for _ in range(m.cell.state_size)] if cfg.get("state") else []
    lengths = [T, 2, 0][:B] if cfg.get("lengths") else None
    weights = rng.standard_normal((B, T, D * m.hidden_size) if m.batch_first else (T, B, D * m.hidden_size))
    return x, states, lengths, t64(weights, device=device)


def penalty(m, x, states, lengths, weights, create_graph):
    """P = ||dL/dx||^2 + ||dL/d(initial states)||^2 for L = <output, weights> + ||final states||^2."""
    hx = None if not states else states[0] if len(states) == 1 else tuple(states)
    out, h_n = m(x, hx, lengths=lengths)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    loss = (out * weights).sum() + sum((s * s).sum() for s in finals)
    grads = mg.autograd.grad(loss, [x] + states, create_graph=create_graph)
    return sum((g * g).sum() for g in grads)


def second_derivatives(m, cfg):
    """dP/d(parameters, x, initial states) through a graph of the first derivatives -> list of arrays."""
    x, states, lengths, weights = problem(m, cfg)
    wrt = list(m.parameters()) + [x] + states
    return [g.numpy() for g in mg.autograd.grad(penalty(m, x, states, lengths, weights, True), wrt)]


# ----------------------------------------------------------------------------- decompositions = forwards

def check_decomposition(node, inputs):
    """The node's decompose, run on its inputs, gives its forward outputs (values and shapes)."""
    outs = node(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    again = node.decompose(*inputs)
    again = again if isinstance(again, tuple) else (again,)
    assert len(again) == len(outs)
    for a, b in zip(again, outs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("step", ["rnn_tanh", "rnn_relu", "lstm", "gru", "gru_no_bias"])
def test_fused_step_decomposes_to_its_forward(step):
    rng = np.random.default_rng(0)
    B, H = 3, 4
    G = {"lstm": 4, "gru": 3, "gru_no_bias": 3}.get(step, 1)
    xw, h, c = t64(rng.standard_normal((B, G * H)), True), t64(rng.standard_normal((B, H)), True), \
        t64(rng.standard_normal((B, H)), True)
    w_hh, b_hh = t64(rng.standard_normal((G * H, H)), True), t64(rng.standard_normal(G * H), True)
    if step.startswith("rnn"):
        check_decomposition(rnn_cells.FusedRNNStep(step[4:]), (xw, h, w_hh))
    elif step == "lstm":
        check_decomposition(rnn_cells.FusedLSTMStep(), (xw, h, c, w_hh))
    else:
        check_decomposition(rnn_cells.FusedGRUStep(), (xw, h, w_hh) + ((b_hh,) if step == "gru" else ()))


LAYERS = {"rnn_tanh": (rnn_layers.RNNLayer, 1), "rnn_relu": (rnn_layers.RNNLayer, 1),
          "lstm": (rnn_layers.LSTMLayer, 4), "gru": (rnn_layers.GRULayer, 3)}


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), T=st.integers(0, 5), B=st.integers(1, 3), H=st.integers(1, 4),
       reverse=st.booleans(), masked=st.booleans(), present=st.sets(st.sampled_from(["b_ih", "b_hh", "h0", "c0"])),
       seed=st.integers(0, 2 ** 16))
def test_layer_node_decomposes_to_its_forward(kind, T, B, H, reverse, masked, present, seed):
    """Any length (0 too), batch, size, direction, padding and set of optional inputs."""
    rng = np.random.default_rng(seed)
    cls, G = LAYERS[kind]
    shapes = {"x": (T, B, 2), "w_ih": (G * H, 2), "w_hh": (G * H, H), "b_ih": (G * H,), "b_hh": (G * H,),
              "h0": (B, H), "c0": (B, H)}
    names = ["x", "w_ih", "w_hh"] + [n for n in ("b_ih", "b_hh", "h0", "c0") if n in present]
    if kind != "lstm" and "c0" in names:
        names.remove("c0")
    inputs = [t64(rng.standard_normal(shapes[n]), True) for n in names]
    mask = rng.integers(0, 2, (T, B, 1)).astype(bool) if masked else None
    extra = (kind[4:],) if kind.startswith("rnn") else ()
    check_decomposition(cls(names, reverse, mask, *extra), inputs)


# ----------------------------------------------------------------------------- second derivatives

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(c) or "default")
def test_second_derivatives_equal_on_the_three_paths(kind, cfg):
    fine = second_derivatives(make(kind, "fine", **cfg), cfg)
    assert any(np.abs(g).max() > 1e-3 for g in fine)        # a penalty with real second derivatives
    for path in ("fused", "speed"):
        other = second_derivatives(make(kind, path, **cfg), cfg)
        assert len(other) == len(fine)
        for a, b in zip(other, fine):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10, err_msg=path)


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_second_derivatives_equal_on_the_device_paths(kind, device):
    """On "cuda" the fused steps and layer nodes run their CUDA kernels forward (the CuPy stand-in without a
    GPU); their decompositions give the fine-grained path's second derivatives there too."""
    cfg = CONFIGS[-1]
    fine = second_derivatives(make(kind, "fine", device=device, **cfg), cfg)
    for path in ("fused", "speed"):
        for a, b in zip(second_derivatives(make(kind, path, device=device, **cfg), cfg), fine):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10, err_msg=path)


def finite_difference_check(m, cfg, directions=3, eps=1e-6):
    """<dP/dtheta, d> against (P(theta + eps d) - P(theta - eps d)) / 2 eps, P from first-order gradients only."""
    x, states, lengths, weights = problem(m, cfg)
    wrt = list(m.parameters()) + [x] + states
    analytic = [g.numpy() for g in mg.autograd.grad(penalty(m, x, states, lengths, weights, True), wrt)]
    rng = np.random.default_rng(17)
    for _ in range(directions):
        ds = [rng.standard_normal(t.shape) for t in wrt]
        originals = [t.data.copy() for t in wrt]
        values = []
        for sign in (1, -1):
            for t, d, o in zip(wrt, ds, originals):
                t.data[...] = o + sign * eps * d
            values.append(penalty(m, x, states, lengths, weights, False).item())
        for t, o in zip(wrt, originals):
            t.data[...] = o
        numeric = (values[0] - values[1]) / (2 * eps)
        exact = sum(float((a * d).sum()) for a, d in zip(analytic, ds))
        assert abs(exact - numeric) <= 1e-7 + 1e-6 * abs(numeric), (exact, numeric)


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("path", list(PATHS))
def test_second_derivatives_match_finite_differences(kind, path):
    cfg = CONFIGS[-1]                                        # 2 layers, bidirectional, padded, initial states
    finite_difference_check(make(kind, path, **cfg), cfg)


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("path", list(PATHS))
def test_gradgradcheck_of_the_whole_module(kind, path):
    """mg.gradgradcheck over x, the initial states and every parameter (random directions), all outputs."""
    cfg = CONFIGS[-1]
    m = make(kind, path, **cfg)
    x, states, lengths, _ = problem(m, cfg)
    n = 1 + len(states)

    def fn(*args):                      # the parameters are perturbed in place, so fn reads them from m
        x, states = args[0], list(args[1:n])
        out, h_n = m(x, states[0] if len(states) == 1 else tuple(states), lengths=lengths)
        return (out,) + (h_n if isinstance(h_n, tuple) else (h_n,))
    assert mg.gradgradcheck(fn, [x] + states + list(m.parameters()), directions=3)


@pytest.mark.parametrize("path", ["fused", "speed"])
def test_gradient_through_the_first_gradient_of_a_weight(path):
    """d/dW_hh of ||dL/dW_hh||^2 (the first derivative taken w.r.t. a weight the node saved), equal to fine."""
    results = []
    for p in ("fine", path):
        m = make("lstm", p)
        x, _, _, weights = problem(m, {})
        out, _ = m(x)
        g, = mg.autograd.grad((out * weights).sum(), [m.weight_hh_l0], create_graph=True)
        results.append(mg.autograd.grad((g * g).sum(), [m.weight_hh_l0, m.weight_ih_l0, x]))
    for a, b in zip(*results):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("fused", [False, True])
def test_cell_modules_twice_differentiable(fused):
    """nn.LSTMCell, fused or not: the same second derivatives, and finite differences agree."""
    rng = np.random.default_rng(2)
    mg.manual_seed(3)
    cell = nn.LSTMCell(3, 4, fused=fused, dtype=F64)
    ref = nn.LSTMCell(3, 4, fused=False, dtype=F64)
    ref.load_state_dict(cell.state_dict())
    x, h, c = (t64(rng.standard_normal(s), True) for s in ((2, 3), (2, 4), (2, 4)))

    def pen(module, create_graph):
        h1, c1 = module(x, (h, c))
        gx, = mg.autograd.grad((h1 * h1).sum() + c1.sum(), [x], create_graph=create_graph)
        return (gx * gx).sum()
    got = mg.autograd.grad(pen(cell, True), [cell.weight_hh, h, c])
    want = mg.autograd.grad(pen(ref, True), [ref.weight_hh, h, c])
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-12)
    d = rng.standard_normal(cell.weight_hh.shape)
    w0, eps = cell.weight_hh.data.copy(), 1e-6
    values = []
    for sign in (1, -1):
        cell.weight_hh.data[...] = w0 + sign * eps * d
        values.append(pen(cell, False).item())
    cell.weight_hh.data[...] = w0
    numeric = (values[0] - values[1]) / (2 * eps)
    exact = float((got[0].numpy() * d).sum())
    assert abs(exact - numeric) <= 1e-7 + 1e-6 * abs(numeric)


# ----------------------------------------------------------------------------- a long sequence

def test_double_backward_through_1000_unrolled_lstm_steps():
    """loss.backward(create_graph=True), then backward of sum ||grad||^2: no recursion anywhere, finite values."""
    T = 1000
    mg.manual_seed(0)
    m = nn.LSTM(2, 4, fused=False, dtype=F64)
    x = t64(np.random.default_rng(0).standard_normal((T, 1, 2)) * 0.5)
    params = list(m.parameters())
    tracemalloc.start()
    start = time.perf_counter()
    try:
        out, _ = m(x)
        (out[-1] * out[-1]).sum().backward(create_graph=True)
        first = [p.grad for p in params]
        for p in params:
            p.grad = None
        sum((g * g).sum() for g in first).backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - start
    print(f"\n1000-step fine-grained LSTM (H=4, batch 1), backward(create_graph=True) + second backward: "
          f"{seconds:.2f} s, tracemalloc peak {peak / 2 ** 20:.1f} MiB")
    assert all(first_g.requires_grad for first_g in first)
    for p in params:
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all()
    assert any(np.abs(p.grad.numpy()).max() > 0 for p in params)
