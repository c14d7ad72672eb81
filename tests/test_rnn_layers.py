"""The speed path (minigrad/ops/rnn_layers): one node per layer-direction must give the numbers of a plain
per-step loop of minigrad ops (1e-12 in float64), finite differences, and the hand-derived BPTT of models/bptt."""
import itertools

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.ops.rnn_layers import GRULayer, LSTMLayer, RNNLayer, gru_layer, lstm_layer, rnn_layer
from models import bptt

KINDS = ["lstm", "gru", "rnn-tanh", "rnn-relu"]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


# ----------------------------------------------------------------------------- the reference: plain ops

def reference(kind, x, w_ih, w_hh, b_ih, b_hh, h0, c0=None, reverse=False, mask=None):
    """The layer as a per-step loop of ordinary minigrad ops (every gate an op)."""
    cell, _, phi = kind.partition("-")
    T, B, _ = x.shape
    H = w_hh.shape[1]
    zeros = mg.zeros((B, H), dtype=x.dtype)
    h, c = h0, c0
    outs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        gi = x[t] @ w_ih.T + (0 if b_ih is None else b_ih)
        gh = None if h is None else h @ w_hh.T
        if b_hh is not None:
            gh = b_hh if gh is None else gh + b_hh
        if cell == "lstm":
            a = gi if gh is None else gi + gh
            i, f = mg.sigmoid(blk(a, 0, H)), mg.sigmoid(blk(a, 1, H))
            g, o = mg.tanh(blk(a, 2, H)), mg.sigmoid(blk(a, 3, H))
            c_new = i * g if c is None else f * c + i * g
            h_new = o * mg.tanh(c_new)
        elif cell == "gru":
            ghr, ghz, ghn = (0, 0, 0) if gh is None else (blk(gh, 0, H), blk(gh, 1, H), blk(gh, 2, H))
            r, z = mg.sigmoid(blk(gi, 0, H) + ghr), mg.sigmoid(blk(gi, 1, H) + ghz)
            n = mg.tanh(blk(gi, 2, H) + r * ghn)
            h_new = (1 - z) * n + z * (zeros if h is None else h)
        else:
            a = gi if gh is None else gi + gh
            h_new = mg.tanh(a) if phi == "tanh" else mg.relu(a)
        if mask is not None:
            h_new = mg.where(mask[t], h_new, zeros if h is None else h)
            if cell == "lstm":
                c_new = mg.where(mask[t], c_new, zeros if c is None else c)
        h = h_new
        if cell == "lstm":
            c = c_new
        outs[t] = h
    out = mg.stack(outs) if T else mg.zeros((0, B, H), dtype=x.dtype)
    h_n = zeros if h is None else h
    if cell == "lstm":
        return out, h_n, (zeros if c is None else c)
    return out, h_n


def blk(a, k, H):
    """Gate block k of a (B, G*H) tensor."""
    return a[..., k * H:(k + 1) * H]


def speed_path(kind, x, w_ih, w_hh, b_ih, b_hh, h0, c0=None, reverse=False, mask=None):
    cell, _, phi = kind.partition("-")
    if cell == "lstm":
        return lstm_layer(x, w_ih, w_hh, b_ih, b_hh, h0, c0, reverse=reverse, mask=mask)
    if cell == "gru":
        return gru_layer(x, w_ih, w_hh, b_ih, b_hh, h0, reverse=reverse, mask=mask)
    return rnn_layer(x, w_ih, w_hh, b_ih, b_hh, h0, nonlinearity=phi, reverse=reverse, mask=mask)


def make_inputs(kind, T, B, In, H, bias=True, h0=True, c0=True, dtype=np.float64, seed=0):
    """Tensors requiring grad: x, w_ih, w_hh, b_ih, b_hh, h0, c0 (None where absent)."""
    r = np.random.default_rng(seed)
    G = GATES[kind.partition("-")[0]]
    t = lambda *shape: mg.tensor(r.uniform(-1, 1, shape).astype(dtype), requires_grad=True)  # noqa: E731
    lstm = kind == "lstm"
    return dict(x=t(T, B, In), w_ih=t(G * H, In), w_hh=t(G * H, H), b_ih=t(G * H) if bias else None,
                b_hh=t(G * H) if bias else None, h0=t(B, H) if h0 else None, c0=t(B, H) if lstm and c0 else None)


def mask_of(lengths, T):
    """(T, B, 1) booleans: step t of row b is real when t < lengths[b]."""
    return (np.arange(T)[:, None] < np.asarray(lengths)[None, :])[:, :, None]


def run(fn, kind, inputs, reverse, mask, used=None, seed=1):
    """Outputs and every input's gradient of a fixed random weighted sum of the outputs."""
    for v in inputs.values():
        if v is not None:
            v.grad = None
    args = {k: v for k, v in inputs.items() if kind == "lstm" or k != "c0"}
    outs = fn(kind, **args, reverse=reverse, mask=mask)
    r = np.random.default_rng(seed)
    loss = None
    for k, o in enumerate(outs):
        if used is None or k in used:
            term = (o * mg.tensor(r.normal(size=o.shape).astype(o.dtype))).sum()
            loss = term if loss is None else loss + term
    loss.backward()
    grads = {k: (None if v.grad is None else v.grad.numpy()) for k, v in inputs.items() if v is not None}
    return [o.numpy() for o in outs], grads


def assert_same(kind, inputs, reverse=False, mask=None, used=None, tol=1e-12):
    got_outs, got_grads = run(speed_path, kind, inputs, reverse, mask, used)
    want_outs, want_grads = run(reference, kind, inputs, reverse, mask, used)
    assert len(got_outs) == len(want_outs)
    for k, (a, b) in enumerate(zip(got_outs, want_outs)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"output {k}")
    assert got_grads.keys() == want_grads.keys()
    for name in want_grads:
        if want_grads[name] is None:
            assert got_grads[name] is None or not np.any(got_grads[name]), name
            continue
        assert got_grads[name] is not None, f"no gradient for {name}"
        assert got_grads[name].dtype == inputs[name].dtype, name
        np.testing.assert_allclose(got_grads[name], want_grads[name], rtol=tol, atol=tol, err_msg=name)


# ----------------------------------------------------------------------------- against plain ops, float64

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("bias,state", list(itertools.product([True, False], [True, False])),
                         ids=lambda v: str(v))
@pytest.mark.parametrize("B", [1, 4])
def test_equals_plain_ops(kind, reverse, masked, bias, state, B):
    T = 5
    inputs = make_inputs(kind, T, B, 3, 4, bias=bias, h0=state, c0=state, seed=B + 10 * masked)
    lengths = {1: [3], 4: [2, 5, 0, 4]}[B]       # any order, a full-length row and an empty one
    assert_same(kind, inputs, reverse, mask_of(lengths, T) if masked else None)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True])
def test_one_step_and_one_state_only(kind, reverse):
    assert_same(kind, make_inputs(kind, 1, 3, 2, 5), reverse)
    if kind == "lstm":                                  # h0 without c0, and c0 without h0
        assert_same(kind, make_inputs(kind, 4, 2, 2, 3, h0=True, c0=False), reverse, mask_of([4, 1], 4))
        assert_same(kind, make_inputs(kind, 4, 2, 2, 3, h0=False, c0=True), reverse, mask_of([0, 3], 4))


@pytest.mark.parametrize("kind,used", [("lstm", {0}), ("lstm", {1}), ("lstm", {2}), ("gru", {0}), ("gru", {1}),
                                       ("rnn-tanh", {0}), ("rnn-tanh", {1})])
def test_only_some_outputs_used(kind, used):
    inputs = make_inputs(kind, 4, 3, 2, 3)
    assert_same(kind, inputs, reverse=True, mask=mask_of([4, 2, 0], 4), used=used)


@pytest.mark.parametrize("kind", KINDS)
def test_only_some_inputs_require_grad(kind):
    inputs = make_inputs(kind, 4, 2, 3, 3)
    for name in ("w_ih", "b_hh", "h0"):
        inputs[name].requires_grad = False
    assert_same(kind, inputs, mask=mask_of([1, 4], 4))
    run(speed_path, kind, inputs, False, None)
    assert inputs["w_ih"].grad is None and inputs["h0"].grad is None and inputs["x"].grad is not None


@given(data=st.data())
def test_random_shapes_and_lengths(data):
    kind = data.draw(st.sampled_from(KINDS))
    T, B = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    In, H = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
    bias, state, reverse = (data.draw(st.booleans()) for _ in range(3))
    lengths = data.draw(st.none() | st.lists(st.integers(0, T), min_size=B, max_size=B))
    inputs = make_inputs(kind, T, B, In, H, bias=bias, h0=state, c0=state, seed=data.draw(st.integers(0, 99)))
    assert_same(kind, inputs, reverse, None if lengths is None else mask_of(lengths, T))


# ----------------------------------------------------------------------------- finite differences, dtypes

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck(kind, reverse):
    inputs = make_inputs(kind, 3, 2, 2, 3, seed=3)
    names = [k for k, v in inputs.items() if v is not None]
    mask = mask_of([3, 2], 3)

    def fn(*tensors):
        return speed_path(kind, **dict(zip(names, tensors)), reverse=reverse, mask=mask)
    assert mg.gradcheck(fn, [inputs[k] for k in names])


@pytest.mark.parametrize("kind", KINDS)
def test_float32_agrees_with_plain_ops(kind):
    inputs = make_inputs(kind, 6, 3, 4, 5, dtype=np.float32)
    mask = mask_of([6, 2, 4], 6)
    got_outs, got_grads = run(speed_path, kind, inputs, True, mask)
    want_outs, want_grads = run(reference, kind, inputs, True, mask)
    for a, b in zip(got_outs, want_outs):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    for name in want_grads:
        assert got_grads[name].dtype == np.float32, name
        np.testing.assert_allclose(got_grads[name], want_grads[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_mixed_dtypes_promote_and_send_gradients_back_in_each_inputs_dtype():
    inputs = make_inputs("lstm", 3, 2, 2, 3)
    inputs["x"] = mg.tensor(inputs["x"].numpy().astype(np.float32), requires_grad=True)
    outs, grads = run(speed_path, "lstm", inputs, False, None)
    assert all(o.dtype == np.float64 for o in outs)
    assert grads["x"].dtype == np.float32 and grads["w_ih"].dtype == np.float64
    want_outs, want_grads = run(reference, "lstm", inputs, False, None)
    np.testing.assert_allclose(outs[0], want_outs[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["w_hh"], want_grads["w_hh"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_saturated_gates_stay_exact_without_warnings(kind, dtype, tol, recwarn):
    """Pre-activations of +-1000 (float64 path: exp overflows to inf on purpose, silently): gates exactly 0 or 1."""
    inputs = make_inputs(kind, 4, 2, 3, 3, dtype=dtype)
    inputs["x"] = mg.tensor(inputs["x"].numpy() * 1000, requires_grad=True)
    assert_same(kind, inputs, tol=tol)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# ----------------------------------------------------------------------------- against models/bptt

@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn-tanh", "rnn-relu"])
@pytest.mark.parametrize("reverse", [False, True])
def test_equals_hand_derived_bptt(kind, reverse):
    """With a softmax output layer on top, loss and every gradient equal models/bptt's (reverse: x read backwards)."""
    cell, _, phi = kind.partition("-")
    T, B, In, H, K = 5, 3, 4, 6, 7
    params = bptt.init_params(cell, In, H, K, seed=2)
    r = np.random.default_rng(2)
    x, y = r.normal(size=(T, B, In)), r.integers(0, K, size=(T, B))
    h0, c0 = r.normal(size=(B, H)), r.normal(size=(B, H))
    flip = (lambda a: a[::-1].copy()) if reverse else (lambda a: a)   # noqa: E731
    if cell == "lstm":
        loss, cache = bptt.lstm_forward(params, flip(x), flip(y), h0, c0)
        want = bptt.lstm_backward(cache)
    elif cell == "gru":
        loss, cache = bptt.gru_forward(params, flip(x), flip(y), h0)
        want = bptt.gru_backward(cache)
    else:
        loss, cache = bptt.rnn_forward(params, flip(x), flip(y), h0, nonlinearity=phi)
        want = bptt.rnn_backward(cache)
    t = lambda a: mg.tensor(a, requires_grad=True)  # noqa: E731
    p = {k: t(v) for k, v in params.items()}
    xs, h0s, c0s = t(x), t(h0), t(c0)
    outs = speed_path(kind, xs, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], h0s,
                      c0s if cell == "lstm" else None, reverse=reverse)
    logits = outs[0] @ p["V"].T + p["c"]
    got = F.cross_entropy(logits.reshape(T * B, K), mg.tensor(y.reshape(-1)), reduction="sum")
    got.backward()
    assert abs(got.item() - loss) < 1e-10
    mine = {k: v.grad.numpy() for k, v in p.items()}
    mine.update(h0=h0s.grad.numpy(), x=flip(xs.grad.numpy()))
    if cell == "lstm":
        mine["c0"] = c0s.grad.numpy()
    for name, g in want.items():
        np.testing.assert_allclose(mine[name], g, rtol=1e-10, atol=1e-12, err_msg=name)


# ----------------------------------------------------------------------------- the node

@pytest.mark.parametrize("kind,cls,label", [("lstm", LSTMLayer, "LSTM layer (7 steps, reverse)"),
                                            ("gru", GRULayer, "GRU layer (7 steps, reverse)"),
                                            ("rnn-relu", RNNLayer, "RNN layer (7 steps, relu, reverse)")])
def test_one_node_per_layer_direction(kind, cls, label):
    inputs = make_inputs(kind, 7, 2, 3, 4)
    outs = speed_path(kind, **{k: v for k, v in inputs.items() if kind == "lstm" or k != "c0"}, reverse=True)
    node = outs[0].grad_fn
    assert isinstance(node, cls) and all(o.grad_fn is node for o in outs)
    assert node.label() == label
    attrs = node.attributes()
    assert attrs["reverse"] is True and attrs["steps"] == 7 and attrs["hidden_size"] == 4
    assert all(isinstance(t, mg.Tensor) for t in node.inputs)
    with mg.no_grad():
        assert speed_path(kind, **{k: v for k, v in inputs.items() if kind == "lstm" or k != "c0"})[0].grad_fn is None


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn-tanh"])
def test_a_retained_graph_backward_twice_doubles_the_gradients(kind):
    inputs = make_inputs(kind, 4, 2, 3, 3)
    outs = speed_path(kind, **{k: v for k, v in inputs.items() if kind == "lstm" or k != "c0"},
                      mask=mask_of([4, 2], 4))
    loss = sum(((o * o).sum() for o in outs), mg.tensor(0.0, dtype=mg.float64))
    loss.backward(retain_graph=True)
    first = {k: v.grad.numpy().copy() for k, v in inputs.items() if v is not None}
    loss.backward()
    for k, g in first.items():
        np.testing.assert_allclose(inputs[k].grad.numpy(), 2 * g, rtol=1e-12, atol=1e-14, err_msg=k)


def test_no_steps_passes_the_initial_state_through():
    inputs = make_inputs("lstm", 0, 2, 3, 4)
    out, h_n, c_n = lstm_layer(*inputs.values())
    assert out.shape == (0, 2, 4)
    np.testing.assert_array_equal(h_n.numpy(), inputs["h0"].numpy())
    (h_n.sum() + 2 * c_n.sum()).backward()
    np.testing.assert_array_equal(inputs["c0"].grad.numpy(), np.full((2, 4), 2.0))


@pytest.mark.parametrize("bad,message", [
    (dict(w_hh=np.zeros((8, 3))), "w_hh must be"),
    (dict(h0=np.zeros((3, 2))), "h0 must have shape"),
    (dict(mask=np.ones((3, 2, 1))), "mask must be a boolean array"),
    (dict(mask=np.ones((2, 2, 1), dtype=bool)), "mask must be a boolean array")])
def test_shape_errors_name_the_layer_and_the_input(bad, message):
    args = dict(x=np.zeros((3, 2, 4)), w_ih=np.zeros((8, 4)), w_hh=np.zeros((8, 2)), b_ih=None, b_hh=None,
                h0=None, c0=None, mask=None)
    args.update(bad)
    with pytest.raises(ValueError, match=f"LSTMLayer.*{message}"):
        lstm_layer(**args)
