"""The speed path (unroll=False: one node per layer-direction) equals the teaching path (unroll=True, fused
and fine-grained steps): outputs, final states and every gradient, 1e-12 in float64 and 1e-6 in float32."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from test_rnn import graph_nodes

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
CONFIGS = [
    dict(),
    dict(num_layers=3),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, lengths=True),
    dict(num_layers=2, lengths=True, state=True),
    dict(bidirectional=True, state=True, batch_first=True),
    dict(num_layers=2, bias=False, bidirectional=True, lengths=True, state=True),
]


def make(mode, unroll, fused=True, dtype=mg.float64, **kw):
    mg.manual_seed(7)
    if mode.startswith("rnn"):
        return nn.RNN(3, 4, nonlinearity=mode[4:], unroll=unroll, fused=fused, dtype=dtype, **kw)
    return (nn.LSTM if mode == "lstm" else nn.GRU)(3, 4, unroll=unroll, fused=fused, dtype=dtype, **kw)


def run(m, cfg, dtype, T=5, B=3):
    """-> the arrays of outputs, final states and the gradients of every input and parameter."""
    rng = np.random.default_rng(3)
    x = mg.tensor(rng.standard_normal((B, T, 3) if m.batch_first else (T, B, 3)), dtype=dtype, requires_grad=True)
    D = 2 if m.bidirectional else 1
    states = [mg.tensor(rng.standard_normal((m.num_layers * D, B, 4)), dtype=dtype, requires_grad=True)
              for _ in range(m.cell.state_size)] if cfg.get("state") else []
    hx = None if not states else states[0] if len(states) == 1 else tuple(states)
    lengths = [T, 2, 0][:B] if cfg.get("lengths") else None
    out, h_n = m(x, hx, lengths=lengths)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    weights = rng.standard_normal(out.shape)
    loss = (out * mg.tensor(weights, dtype=dtype)).sum() + sum((s * s).sum() for s in finals)
    loss.backward()
    grads = [x.grad] + [s.grad for s in states] + [p.grad for p in m.parameters()]
    return [t.numpy() for t in (out,) + tuple(finals) + tuple(grads)]


def layer_kwargs(cfg):
    return {k: v for k, v in cfg.items() if k in ("num_layers", "bidirectional", "bias", "batch_first")}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(k for k in c) or "default")
def test_speed_path_equals_teaching_path_float64(mode, cfg):
    expected = run(make(mode, True, True, **layer_kwargs(cfg)), cfg, mg.float64)
    fine = run(make(mode, True, False, **layer_kwargs(cfg)), cfg, mg.float64)
    fast = run(make(mode, False, **layer_kwargs(cfg)), cfg, mg.float64)
    assert len(fast) == len(expected)
    for a, b, c in zip(fast, expected, fine):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_speed_path_equals_teaching_path_float32(mode):
    cfg = dict(num_layers=2, bidirectional=True, lengths=True, state=True)
    expected = run(make(mode, True, dtype=mg.float32, **layer_kwargs(cfg)), cfg, mg.float32)
    fast = run(make(mode, False, dtype=mg.float32, **layer_kwargs(cfg)), cfg, mg.float32)
    for a, b in zip(fast, expected):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_speed_path_is_one_node_per_layer_direction(mode):
    m = make(mode, False, num_layers=2, bidirectional=True)
    out, _ = m(mg.randn(6, 2, 3, dtype=mg.float64))
    layers = [n for n in graph_nodes(out) if n.meta and n.meta.get("granularity") == "layer"
              and n.name.endswith("Layer")]
    assert sorted((n.meta["layer"], n.meta["direction"]) for n in layers) == \
        [(0, "forward"), (0, "reverse"), (1, "forward"), (1, "reverse")]
    assert all("t" not in n.meta and n.meta["cell"] == m.cell.name for n in layers)


def test_unroll_is_a_plain_attribute_that_switches_paths():
    m = make("lstm", True)
    x = mg.randn(4, 2, 3, dtype=mg.float64)
    a = m(x)[0].numpy()
    m.unroll = False
    np.testing.assert_allclose(m(x)[0].numpy(), a, rtol=0, atol=1e-12)
    assert "unroll=False" in repr(m)


@pytest.mark.parametrize("mode", MODES)
def test_workspace_buffers_pass_to_the_next_iteration_without_touching_what_users_hold(mode):
    """A released layer node gives its scratch arrays back and the next forward takes them; the outputs and
    gradients of the first iteration, which the user still holds, stay as they were."""
    from minigrad.ops.rnn_layers.common import WORKSPACE
    WORKSPACE.clear()
    m = make(mode, False, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(0)
    x1, x2 = (mg.tensor(rng.standard_normal((6, 3, 3)), requires_grad=True) for _ in range(2))
    out1, _ = m(x1, lengths=[6, 4, 1])
    (out1 * out1).sum().backward()
    kept, kept_bytes = {id(a) for a in WORKSPACE.kept()}, WORKSPACE.kept_bytes
    assert kept or mode.startswith("rnn")                  # LSTM and GRU layers keep scratch arrays
    snapshot, grad1 = out1.numpy().copy(), x1.grad.numpy().copy()
    out2, _ = m(x2)
    taken = kept - {id(a) for a in WORKSPACE.kept()}
    per_node = {"lstm": 3, "gru": 2}.get(mode, 0)          # LSTM: activations, c, tanh(c); GRU: activations, h W_hn
    assert len(taken) == 4 * per_node                      # 2 layers x 2 directions took theirs from iteration 1
    (out2 * out2).sum().backward()
    assert WORKSPACE.kept_bytes == kept_bytes             # all given back again: the workspace does not grow
    np.testing.assert_array_equal(out1.numpy(), snapshot)
    np.testing.assert_array_equal(x1.grad.numpy(), grad1)
    fresh = make(mode, False, num_layers=2, bidirectional=True)
    WORKSPACE.clear()
    np.testing.assert_array_equal(fresh(x2)[0].numpy(), out2.numpy())


@pytest.mark.parametrize("mode", MODES)
def test_gradients_arriving_in_any_memory_layout(mode):
    """Gradients of output and final state that come through a transpose (not C-contiguous) give every path
    the same result."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 3))
    results = []
    for unroll, fused in ((True, True), (True, False), (False, True)):
        m = make(mode, unroll, fused, num_layers=2, bidirectional=True)
        xt = mg.tensor(x, requires_grad=True)
        out, h_n = m(xt)
        finals = h_n if isinstance(h_n, tuple) else (h_n,)
        loss = (out.permute(2, 1, 0) * mg.tensor(rng.standard_normal((8, 3, 4)))).sum()
        for s in finals:
            loss = loss + (s.permute(2, 1, 0) * mg.tensor(rng.standard_normal((4, 3, 4)))).sum()
        loss.backward()
        results.append([xt.grad.numpy()] + [p.grad.numpy() for p in m.parameters()])
        rng = np.random.default_rng(5)
        rng.standard_normal((4, 3, 3))
    for other in results[1:]:
        for a, b in zip(other, results[0]):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("unroll,fused,granularity", [(True, True, "fused"), (True, False, "ops"),
                                                      (False, True, "layer")])
def test_nodes_say_which_granularity_made_them(unroll, fused, granularity):
    m = make("lstm", unroll, fused)
    out, _ = m(mg.randn(3, 2, 3, dtype=mg.float64))
    grains = {n.meta["granularity"] for n in graph_nodes(out) if n.meta and "granularity" in n.meta}
    assert grains == {granularity}


def test_workspace_keeps_at_most_its_budget_and_lets_the_oldest_shapes_go():
    from minigrad.ops.rnn_layers.common import Workspace
    ws = Workspace(max_bytes=3 * 800)
    xp = np
    a, b, c, d = (np.empty((100,), dtype=np.float64) for _ in range(4))      # 800 bytes each
    ws.give(a, b)
    ws.give(np.empty((10, 10), dtype=np.float64))                           # another shape, 800 bytes
    assert ws.kept_bytes == 2400
    assert ws.take(xp, (100,), np.float64) is b                             # (100,) is now the recent shape
    ws.give(c, d)                                                           # 3200 > 2400: the (10, 10) goes
    assert ws.kept_bytes == 2400 and all(k.shape == (100,) for k in ws.kept())
    assert ws.take(xp, (10, 10), np.float64) is not None and ws.kept_bytes == 2400
    ws.give(np.empty((1000,), dtype=np.float64))                            # bigger than the budget: not kept
    assert ws.kept_bytes == 2400


@pytest.mark.parametrize("unroll", [True, False])
def test_a_gradient_has_the_dtype_of_its_tensor(unroll):
    """float32 input into a float64 layer: the output is float64 on both paths, x.grad float32 as x."""
    m = make("gru", unroll)
    x = mg.randn(3, 2, 3, requires_grad=True)
    out, _ = m(x)
    out.sum().backward()
    assert out.dtype == np.float64 and x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float64 for p in m.parameters())
