"""BPTT is not special: minigrad's generic backward() through the unrolled layer equals the gradients
derived by hand in models.bptt (plain NumPy), for every parameter and the initial state, float64."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from models import bptt

D, H, K = 3, 5, 4
LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def hand(cell, params, x, y, h0, c0, many_to_one):
    if cell == "rnn":
        _, cache = bptt.rnn_forward(params, x, y, h0, many_to_one=many_to_one)
        return bptt.rnn_backward(cache)
    if cell == "lstm":
        _, cache = bptt.lstm_forward(params, x, y, h0, c0, many_to_one=many_to_one)
        return bptt.lstm_backward(cache)
    _, cache = bptt.gru_forward(params, x, y, h0, many_to_one=many_to_one)
    return bptt.gru_backward(cache)


def autograd(cell, params, x, y, h0, c0, many_to_one, fused):
    layer = LAYERS[cell](D, H, fused=fused).double()
    layer.load_state_dict({f"{k}_l0": params[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    V = mg.tensor(params["V"], requires_grad=True)
    c = mg.tensor(params["c"], requires_grad=True)
    xt = mg.tensor(x, requires_grad=True)
    h0t = mg.tensor(h0[None], requires_grad=True)
    c0t = mg.tensor(c0[None], requires_grad=True)
    out, _ = layer(xt, (h0t, c0t) if cell == "lstm" else h0t)
    hs = out[-1] if many_to_one else out.reshape(-1, H)
    loss = F.cross_entropy(hs @ V.T + c, mg.tensor(y.reshape(-1)), reduction="sum")
    loss.backward()
    grads = {k: getattr(layer, f"{k}_l0").grad.numpy() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    grads.update(V=V.grad.numpy(), c=c.grad.numpy(), x=xt.grad.numpy(), h0=h0t.grad.numpy()[0])
    if cell == "lstm":
        grads["c0"] = c0t.grad.numpy()[0]
    return grads


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "fine"])
@pytest.mark.parametrize("many_to_one", [False, True], ids=["many2many", "many2one"])
@pytest.mark.parametrize("B", [1, 8])
@pytest.mark.parametrize("T", [1, 2, 17, 200])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_backward_equals_hand_derived_bptt(cell, T, B, many_to_one, fused):
    rng = np.random.default_rng(T * 100 + B)
    params = bptt.init_params(cell, D, H, K, seed=T + B)
    x = rng.standard_normal((T, B, D))
    y = rng.integers(0, K, size=(B,) if many_to_one else (T, B))
    h0, c0 = 0.5 * rng.standard_normal((B, H)), 0.5 * rng.standard_normal((B, H))
    expected = hand(cell, params, x, y, h0, c0, many_to_one)
    got = autograd(cell, params, x, y, h0, c0, many_to_one, fused)
    assert set(got) <= set(expected)
    for name, g in got.items():
        e = expected[name]
        assert g.shape == e.shape, name
        rel = np.abs(g - e).max() / max(np.abs(e).max(), 1e-300)
        assert rel <= 1e-9, f"{cell} {name}: relative error {rel:.2e}"
