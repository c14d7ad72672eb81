"""The hand-derived BPTT (models.bptt) and the fast NumPy LSTM LM against central finite differences.

Tolerance. The finite-difference estimate (L(w+eps) - L(w-eps)) / 2eps has two errors: truncation,
about eps^2/6 |L'''|, and rounding, about u |L| / eps with u = 2.2e-16. With eps = 1e-5 and losses
below 100 (T=17, B=3, K=5 gives ~85) that is ~1e-11 + ~2e-9: the largest error measured over all
cases below is 2e-9. So we require |analytic - numeric| <= ATOL + RTOL |numeric| with ATOL = 1e-7
(50x the rounding floor) and RTOL = 1e-6. A real mistake in a derivation (a missing term, a wrong
gate) makes errors of the size of the gradient itself, 1e-3 and up: test_check_catches_truncated_bptt
shows the check failing on gradients that drop the through-time term.
"""
import numpy as np
import pytest

from models import bptt
from models.numpy_lstm_lm import NumpyLSTMLM

EPS, ATOL, RTOL = 1e-5, 1e-7, 1e-6
D, H, K = 3, 4, 5
VARIANTS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]


def numeric_grads(loss_fn, arrays, eps=EPS):
    """Central differences of loss_fn() with respect to every element of every array (changed in place)."""
    out = {}
    for name, a in arrays.items():
        g = np.empty_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = loss_fn()
            a[idx] = old - eps
            down = loss_fn()
            a[idx] = old
            g[idx] = (up - down) / (2 * eps)
        out[name] = g
    return out


def mismatches(analytic, numeric, atol=ATOL, rtol=RTOL):
    """Names (with the worst error) of the arrays whose gradients disagree beyond atol + rtol |numeric|."""
    bad = []
    for name, n in numeric.items():
        a = analytic[name]
        if a.shape != n.shape:
            bad.append(f"{name}: shape {a.shape} != {n.shape}")
            continue
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        if excess.max() > 0:
            i = np.unravel_index(np.argmax(excess), n.shape)
            bad.append(f"{name}{list(i)}: analytic {a[i]:.10g} numeric {n[i]:.10g}")
    return bad


def make_case(variant, many_to_one, T, B, seed=0, dtype=np.float64):
    """Parameters, inputs and a `run()` closure computing (loss, cache) from them (arrays shared, mutable)."""
    cell, _, nonlinearity = variant.partition("-")
    rng = np.random.default_rng(seed)
    params = bptt.init_params(cell, D, H, K, seed=seed + 1, dtype=dtype)
    x = rng.standard_normal((T, B, D)).astype(dtype)
    y = rng.integers(0, K, size=(B,) if many_to_one else (T, B))
    states = {"h0": (0.5 * rng.standard_normal((B, H))).astype(dtype)}
    if cell == "lstm":
        states["c0"] = (0.5 * rng.standard_normal((B, H))).astype(dtype)

    def run():
        if cell == "rnn":
            return bptt.rnn_forward(params, x, y, states["h0"], many_to_one, nonlinearity)
        if cell == "lstm":
            return bptt.lstm_forward(params, x, y, states["h0"], states["c0"], many_to_one)
        return bptt.gru_forward(params, x, y, states["h0"], many_to_one)

    backward = {"rnn": bptt.rnn_backward, "lstm": bptt.lstm_backward, "gru": bptt.gru_backward}[cell]
    return params, x, y, states, run, backward


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("T", [1, 2, 17])
@pytest.mark.parametrize("many_to_one", [False, True], ids=["many2many", "many2one"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_bptt_matches_finite_differences(variant, many_to_one, T, B):
    params, x, y, states, run, backward = make_case(variant, many_to_one, T, B)
    loss, cache = run()
    grads = backward(cache)
    expected_names = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "V", "c", "x", *states}
    assert set(grads) == expected_names
    arrays = {**params, **states, "x": x}
    numeric = numeric_grads(lambda: run()[0], arrays)
    assert not mismatches(grads, numeric)
    assert max(np.abs(g).max() for g in grads.values()) > 1e-3      # not trivially all zero


def test_check_catches_truncated_bptt():
    """Dropping the through-time term (dL/dh_t from step t+1) must fail the gradient check."""
    params, x, y, states, run, _ = make_case("rnn-tanh", False, 2, 3)
    loss, cache = run()
    grads = {n: np.zeros_like(params[n]) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    _, _, dh_out = bptt.common.output_backward(params, cache["hs"], cache["p"], y, False)
    for t in range(2):
        _, _, step_grads = bptt.rnn_cell_backward(params, dh_out[t], cache["steps"][t])   # no dh_next
        for n in grads:
            grads[n] += step_grads[n]
    numeric = numeric_grads(lambda: run()[0], {n: params[n] for n in grads})
    bad = mismatches(grads, numeric)
    assert any(b.startswith("weight_ih") for b in bad) and any(b.startswith("weight_hh") for b in bad)


def _slices(w, G):
    return np.split(w, G, axis=0)


def test_lstm_step_follows_pytorch_gate_order():
    """One step written out with the gates named i, f, g, o as PyTorch lays them out in weight_ih."""
    params, x, y, states, run, _ = make_case("lstm", False, 1, 3)
    W_i, W_f, W_g, W_o = _slices(params["weight_ih"], 4)
    U_i, U_f, U_g, U_o = _slices(params["weight_hh"], 4)
    b = params["bias_ih"] + params["bias_hh"]
    b_i, b_f, b_g, b_o = _slices(b, 4)
    h0, c0, x0 = states["h0"], states["c0"], x[0]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i = sig(x0 @ W_i.T + h0 @ U_i.T + b_i)
    f = sig(x0 @ W_f.T + h0 @ U_f.T + b_f)
    g = np.tanh(x0 @ W_g.T + h0 @ U_g.T + b_g)
    o = sig(x0 @ W_o.T + h0 @ U_o.T + b_o)
    c1 = f * c0 + i * g
    _, cache = run()
    np.testing.assert_allclose(cache["cs"][0], c1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cache["hs"][0], o * np.tanh(c1), rtol=1e-12, atol=1e-14)


def test_gru_step_follows_pytorch_equations():
    """n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h, gates in the order r, z, n."""
    params, x, y, states, run, _ = make_case("gru", False, 1, 3)
    W_r, W_z, W_n = _slices(params["weight_ih"], 3)
    U_r, U_z, U_n = _slices(params["weight_hh"], 3)
    bi_r, bi_z, bi_n = _slices(params["bias_ih"], 3)
    bh_r, bh_z, bh_n = _slices(params["bias_hh"], 3)
    h0, x0 = states["h0"], x[0]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    r = sig(x0 @ W_r.T + bi_r + h0 @ U_r.T + bh_r)
    z = sig(x0 @ W_z.T + bi_z + h0 @ U_z.T + bh_z)
    n = np.tanh(x0 @ W_n.T + bi_n + r * (h0 @ U_n.T + bh_n))
    _, cache = run()
    np.testing.assert_allclose(cache["hs"][0], (1 - z) * n + z * h0, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_step_and_loss(nonlinearity):
    """h_1 = phi(W_ih x + b_ih + W_hh h_0 + b_hh); loss = sum over batch of -log softmax(V h_1 + c)[y]."""
    params, x, y, states, run, _ = make_case(f"rnn-{nonlinearity}", False, 1, 3)
    a = x[0] @ params["weight_ih"].T + params["bias_ih"] + states["h0"] @ params["weight_hh"].T + params["bias_hh"]
    h1 = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
    o = h1 @ params["V"].T + params["c"]
    expected = -sum(np.log(np.exp(o[b, y[0, b]]) / np.exp(o[b]).sum()) for b in range(3))
    loss, cache = run()
    np.testing.assert_allclose(cache["hs"][0], h1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss, expected, rtol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
def test_many_to_one_is_the_last_term_of_many_to_many(variant):
    params, x, y, states, run, _ = make_case(variant, False, 5, 3)
    loss, cache = run()
    per_step = -np.log(np.take_along_axis(cache["p"], y[..., None], axis=-1)).sum(axis=(1, 2))
    np.testing.assert_allclose(per_step.sum(), loss, rtol=1e-12)
    cell, _, nonlinearity = variant.partition("-")
    forward = {"rnn": bptt.rnn_forward, "lstm": bptt.lstm_forward, "gru": bptt.gru_forward}[cell]
    extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    loss_one, cache_one = forward(params, x, y[-1], *states.values(), many_to_one=True, **extra)
    np.testing.assert_array_equal(cache_one["hs"], cache["hs"])
    np.testing.assert_allclose(loss_one, per_step[-1], rtol=1e-12)
    assert cache_one["p"].shape == (1, 3, K)


@pytest.mark.parametrize("variant", VARIANTS)
def test_dtype_follows_inputs(variant):
    params, x, y, states, run, backward = make_case(variant, False, 3, 2, dtype=np.float32)
    loss, cache = run()
    grads = backward(cache)
    assert loss.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values()), {n: g.dtype for n, g in grads.items()}
    params64, x64, _, states64, run64, backward64 = make_case(variant, False, 3, 2)
    grads64 = backward64(run64()[1])
    for name, g in grads.items():                   # the same numbers, to float32 precision
        np.testing.assert_allclose(g, grads64[name], rtol=1e-3, atol=1e-5)


def test_input_errors_name_the_function_and_shapes():
    params, x, y, states, run, _ = make_case("lstm", False, 2, 3)
    with pytest.raises(ValueError, match=r"lstm_forward: x must .* \(T, B, D\).*got shape \(3, 3\)"):
        bptt.lstm_forward(params, x[0], y, states["h0"], states["c0"])
    with pytest.raises(ValueError, match=r"lstm_forward: y must .* \(3,\).*many-to-one.*\(2, 3\)"):
        bptt.lstm_forward(params, x, y, states["h0"], states["c0"], many_to_one=True)
    with pytest.raises(ValueError, match=r"lstm_forward: c0 must have shape .*\(3, 4\).*\(3, 5\)"):
        bptt.lstm_forward(params, x, y, states["h0"], np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"gru_forward: params\['weight_ih'\] has shape \(16, 3\); expected \(12, 3\)"):
        bptt.gru_forward(params, x, y, states["h0"])
    with pytest.raises(ValueError, match=r"rnn_forward: nonlinearity must be 'tanh' or 'relu'; got 'sigmoid'"):
        bptt.rnn_forward(params, x, y, states["h0"], nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 5\)"):
        bptt.lstm_forward(params, x, y + 5, states["h0"], states["c0"])


# ---------------------------------------------------------------- the fast NumPy LSTM language model

@pytest.mark.parametrize("embed", [3, None], ids=["embedding", "one-hot"])
def test_numpy_lstm_lm_matches_finite_differences(embed):
    """Mean loss ~1.6, eps 1e-5: rounding ~ u * 1.6 / 1e-5 ~ 4e-11, so ATOL 1e-9 still leaves 25x margin;
    the gradients themselves are 1e-4..0.3 (a mean over tokens)."""
    model = NumpyLSTMLM(vocab=5, embed=embed, hidden=4, layers=2, seed=0, dtype=np.float64)
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, size=(2, 3)), rng.integers(0, 5, size=(2, 3))
    model.loss_and_grad(x, y)
    analytic = {name: g.copy() for name, g in model.grads.items()}
    numeric = numeric_grads(lambda: model.loss(x, y), model.params)
    assert not mismatches(analytic, numeric, atol=1e-9)
    assert np.all(analytic["lstm.bias_ih_l0"] == analytic["lstm.bias_hh_l0"])
    assert min(np.abs(g).max() for g in analytic.values()) > 1e-5  # every parameter gets a gradient


def test_numpy_lstm_lm_equals_readable_bptt():
    """One layer on one-hot input is bptt.lstm_forward with zero initial state, the loss divided by B*T."""
    V_, B, T, Hh = 6, 3, 7, 5
    model = NumpyLSTMLM(vocab=V_, embed=None, hidden=Hh, layers=1, seed=2, dtype=np.float64)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, V_, size=(B, T)), rng.integers(0, V_, size=(B, T))
    loss = model.loss_and_grad(x, y)
    params = {n: model.params[f"lstm.{n}_l0"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    params.update(V=model.params["decoder.weight"], c=model.params["decoder.bias"])
    zero = np.zeros((B, Hh))
    ref_loss, cache = bptt.lstm_forward(params, np.eye(V_)[x.T], y.T, zero, zero)
    ref = bptt.lstm_backward(cache)
    np.testing.assert_allclose(loss, ref_loss / (B * T), rtol=1e-12)
    names = {"weight_ih": "lstm.weight_ih_l0", "weight_hh": "lstm.weight_hh_l0", "bias_ih": "lstm.bias_ih_l0",
             "bias_hh": "lstm.bias_hh_l0", "V": "decoder.weight", "c": "decoder.bias"}
    for ref_name, name in names.items():
        np.testing.assert_allclose(model.grads[name], ref[ref_name] / (B * T), rtol=1e-10, atol=1e-14)


def test_numpy_lstm_lm_learns_a_repeated_sequence():
    model = NumpyLSTMLM(vocab=8, embed=8, hidden=32, layers=2, seed=0)
    seq = np.tile(np.arange(8), 4)[None].repeat(4, axis=0)               # 0 1 2 ... 7 0 1 ... (B=4)
    x, y = seq[:, :-1], seq[:, 1:]
    losses = [model.train_step(x, y, lr=1e-2) for _ in range(60)]
    assert all(np.isfinite(losses))
    assert model.flat.dtype == np.float32
    assert losses[-1] < 0.25 * losses[0], losses[::10]


def test_numpy_lstm_lm_names_shapes_and_flat_views():
    model = NumpyLSTMLM(vocab=7, embed=3, hidden=4, layers=2, seed=0)
    shapes = {n: p.shape for n, p in model.params.items()}
    assert shapes == {"embedding.weight": (7, 3),
                      "lstm.weight_ih_l0": (16, 3), "lstm.weight_hh_l0": (16, 4),
                      "lstm.bias_ih_l0": (16,), "lstm.bias_hh_l0": (16,),
                      "lstm.weight_ih_l1": (16, 4), "lstm.weight_hh_l1": (16, 4),
                      "lstm.bias_ih_l1": (16,), "lstm.bias_hh_l1": (16,),
                      "decoder.weight": (7, 4), "decoder.bias": (7,)}
    assert all(np.shares_memory(p, model.flat) for p in model.params.values())
    assert all(np.shares_memory(g, model.flat_grad) for g in model.grads.values())
    assert model.flat.size == sum(p.size for p in model.params.values())
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 7\)"):
        model.loss(np.full((2, 3), 7), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match=r"same shape \(B, T\)"):
        model.loss(np.zeros((2, 3), int), np.zeros((3, 2), int))


def test_numpy_lstm_lm_loss_is_stable_for_confident_wrong_predictions():
    """float32 softmax underflows to p = 0 here; the loss must come from log-sum-exp, not log(p)."""
    model = NumpyLSTMLM(vocab=4, embed=None, hidden=3, layers=1, seed=0)
    model.params["decoder.bias"][:] = [300, 0, 0, 0]
    x, y = np.zeros((2, 3), int), np.ones((2, 3), int)
    loss = model.loss_and_grad(x, y)
    assert np.isfinite(loss) and abs(loss - 300) < 1.0
    assert np.all(np.isfinite(model.flat_grad))
    np.testing.assert_allclose(model.grads["decoder.bias"], [1, -1, 0, 0], atol=1e-6)
