"""viz on the backward pass: the graph create_graph=True records, drawn alone or beside the forward pass, and
the exact Jacobian norms ||dh_T/dh_t|| of recurrent networks (checked against finite differences)."""
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_viz import parse_dot, time_clusters

import minigrad as mg
import viz
from minigrad import nn

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
RED = "#c0392b"                                  # viz/render.py GRAD_COLOUR: edges of the backward pass


def tanh_rnn(W, U, xs, h0, annotated=True):
    """h_t = tanh(x_t W + h_{t-1} U), each step annotated with its t as nn.RNN's loop does; returns [h_1 .. h_T]."""
    h, hs = h0, []
    with mg.scope("rnn"), mg.annotate(module=("rnn",), layer=0, direction="forward", cell="RNN", granularity="ops"):
        for t in range(xs.shape[0]):
            with mg.annotate(t=t):
                h = (xs[t] @ W + h @ U).tanh()
                hs.append(h)
    return hs


def rnn_gradient(T=3, B=2, I=3, H=4, seed=0):
    """dL/dU with create_graph=True for L = sum(h_T^2): a graph holding forward values and the backward pass."""
    mg.manual_seed(seed)
    W, U = mg.randn(I, H, requires_grad=True), mg.randn(H, H, requires_grad=True)
    hs = tanh_rnn(W, U, mg.randn(T, B, I), mg.zeros(B, H))
    g, = mg.autograd.grad((hs[-1] * hs[-1]).sum(), U, create_graph=True)
    return g


def drawn(edges):
    """The visible edges (not the invisible ones that keep time steps in order)."""
    return [e for e in edges if e[2].get("style") != "invis"]


def cluster_labels(node, clusters):
    return [clusters[c] for c in node["cluster"]]


def ops_of(nodes):
    return {k: v for k, v in nodes.items() if k.startswith("op") and ":" not in k}


# ----------------------------------------------------------------------------- the backward pass alone

def test_gradient_graph_draws_the_backward_pass_per_time_step():
    nodes, clusters, edges = parse_dot(viz.draw_graph(rnn_gradient()).source)
    ops = ops_of(nodes)
    assert ops and all("backward of" in v["tooltip"] for v in ops.values())        # no forward op is drawn
    assert all(cluster_labels(v, clusters)[0] == "backward pass" for v in ops.values())
    steps = {}
    for k, v in ops.items():
        inner = [clusters[c] for c in v["cluster"] if c in time_clusters(clusters)]
        if inner:
            steps.setdefault(inner[-1], set()).add(k)
    assert sorted(steps) == ["t = 1", "t = 2", "t = 3"]          # steps drawn 1..T
    assert {"Tanh t=1", "Tanh t=2", "Tanh t=3"} <= {v.get("label", "").split("\n")[0] for v in nodes.values()}
    saved = [(a, b) for a, b, at in edges if at.get("style") == "dashed" and nodes[a]["label"].startswith("Tanh")]
    assert saved and all(b in ops for _, b in saved)
    # BPTT runs backward in time: the gradient goes from step 3 to step 2 to step 1, never forward
    step_of = {k: int(t[-1]) for t, keys in steps.items() for k in keys}
    across = [(step_of[a], step_of[b], at) for a, b, at in drawn(edges) if a in step_of and b in step_of
              and step_of[a] != step_of[b]]
    # the edge from step t+1 back to step t carries ∂h_t
    assert {(3, 2), (2, 1)} <= {(s, d) for s, d, _ in across} and all(s > d for s, d, _ in across)
    assert all(at["color"] == RED and at["label"] == "∂" + "₀₁₂"[d] for s, d, at in across)
    output = nodes["output"]
    assert output["label"] == "gradient\n4×4"


def test_cell_detail_of_a_fine_grained_lstm_gradient_has_one_backward_cell_per_step():
    mg.manual_seed(1)
    lstm = nn.LSTM(3, 4, fused=False, unroll=True)
    out, _ = lstm(mg.randn(4, 2, 3))
    g, = mg.autograd.grad((out[-1] ** 2).sum(), lstm.weight_hh_l0, create_graph=True)
    nodes, clusters, edges = parse_dot(viz.draw_graph(g, module=lstm, detail="cell").source)
    cells = {k: v for k, v in nodes.items() if v.get("label", "").startswith("∂ LSTM cell")}
    assert sorted(cluster_labels(v, clusters)[-1] for v in cells.values()) == [f"t = {t}" for t in range(1, 5)]
    assert sorted(at["label"] for a, b, at in drawn(edges) if a in cells and b in cells) == ["∂₁", "∂₂", "∂₃"]


# ----------------------------------------------------------------------------- forward and backward side by side

def test_both_passes_side_by_side_with_two_edge_colours_and_dashed_dependencies():
    nodes, clusters, edges = parse_dot(viz.draw_graph(rnn_gradient(), passes="both").source)
    ops = ops_of(nodes)
    backward = {k for k, v in ops.items() if "backward of" in v["tooltip"]}
    forward = set(ops) - backward
    assert forward and backward
    assert all("backward pass" not in cluster_labels(ops[k], clusters) for k in forward)
    assert all(cluster_labels(ops[k], clusters)[0] == "backward pass" for k in backward)
    fwd_edges = [at for a, b, at in drawn(edges) if a in forward and b in forward]
    bwd_edges = [at for a, b, at in drawn(edges) if a in backward and b in backward]
    deps = [at for a, b, at in edges if a in forward and b in backward]
    assert fwd_edges and all(at.get("color") != RED and at.get("style") != "dashed" for at in fwd_edges)
    assert any(at.get("color") == "#1a5fb4" and at.get("label") == "h₁" for at in fwd_edges)    # the recurrence
    assert bwd_edges and all(at["color"] == RED for at in bwd_edges)
    assert deps and all(at["style"] == "dashed" and at["color"] not in (RED, "#1a5fb4") for at in deps)
    assert not [1 for a, b, at in edges if a in backward and b in forward]        # the backward only reads
    # each forward step and each backward step is a cluster of its own
    assert sorted(clusters[c] for c in time_clusters(clusters)) == ["t = 1", "t = 1", "t = 2", "t = 2", "t = 3",
                                                                     "t = 3"]


def test_forward_pictures_and_options():
    mg.manual_seed(0)
    W, U = mg.randn(3, 4, requires_grad=True), mg.randn(4, 4, requires_grad=True)
    loss = tanh_rnn(W, U, mg.randn(3, 2, 3), mg.zeros(2, 4))[-1].sum()
    plain = viz.draw_graph(loss).source
    assert plain == viz.draw_graph(loss, passes="auto").source
    assert RED not in plain and "backward" not in plain
    with pytest.raises(ValueError, match="create_graph=True"):
        viz.draw_graph(loss, passes="both")
    g = rnn_gradient()
    with pytest.raises(ValueError, match="passes"):
        viz.draw_graph(g, passes="forward and back")
    with pytest.raises(ValueError, match="rolled"):
        viz.draw_graph(g, rolled=True)
    assert "elided" in viz.draw_graph(rnn_gradient(T=6), passes="both", max_steps=1).source


@needs_dot
def test_render_backward_and_both_to_svg(tmp_path):
    g = rnn_gradient()
    for passes in ("backward", "both"):
        path = viz.render(g, tmp_path / f"{passes}.svg", passes=passes, detail="cell")
        texts = {t.text for t in ET.parse(path).getroot().iter() if t.tag.endswith("text")}
        assert {"backward pass", "∂₂", "∂₁"} <= texts
        assert ("h₁" in texts) == (passes == "both")


# ----------------------------------------------------------------------------- Jacobian norms

def finite_difference_jacobians(W, U, xs, h0, eps=1e-6):
    """dh_T/dh_t by central differences, running the later steps of the same RNN in NumPy."""
    T = xs.shape[0]
    hs, h = [], h0
    for t in range(T):
        h = np.tanh(xs[t] @ W + h @ U)
        hs.append(h)

    def run_from(t, h):
        for s in range(t + 1, T):
            h = np.tanh(xs[s] @ W + h @ U)
        return h

    out = []
    for t in range(T):
        J = np.zeros((hs[-1].size, hs[t].size))
        for k in range(hs[t].size):
            d = np.zeros(hs[t].size)
            d[k] = eps
            up = run_from(t, hs[t] + d.reshape(hs[t].shape))
            down = run_from(t, hs[t] - d.reshape(hs[t].shape))
            J[:, k] = ((up - down) / (2 * eps)).ravel()
        out.append(J)
    return out


def float64_rnn(scale, T=6, B=2, I=3, H=4, seed=0):
    rng = np.random.default_rng(seed)
    W, U = rng.normal(size=(I, H)) * scale, rng.normal(size=(H, H)) * scale
    xs, h0 = rng.normal(size=(T, B, I)), rng.normal(size=(B, H)) * 0.5
    hs = tanh_rnn(mg.tensor(W, requires_grad=True), mg.tensor(U, requires_grad=True), mg.tensor(xs), mg.tensor(h0))
    return (W, U, xs, h0), hs


def test_jacobians_equal_finite_differences_in_float64():
    arrays, hs = float64_rnn(scale=0.8)
    assert hs[0].dtype == mg.float64
    exact = viz.state_jacobians(hs[-1], hs)
    numeric = finite_difference_jacobians(*arrays)
    for t, (J, N) in enumerate(zip(exact, numeric)):
        assert J.shape == (8, 8)
        np.testing.assert_allclose(J, N, rtol=1e-6, atol=1e-9, err_msg=f"t={t}")
    norms = viz.jacobian_norms(hs[-1], hs)
    np.testing.assert_allclose(norms["frobenius"], [np.linalg.norm(N) for N in numeric], rtol=1e-6)
    np.testing.assert_allclose(norms["spectral"], [np.linalg.norm(N, 2) for N in numeric], rtol=1e-6)
    np.testing.assert_allclose(exact[-1], np.eye(8))                       # dh_T/dh_T


def test_jacobian_norms_decay_back_in_time_for_a_contracting_rnn():
    _, hs = float64_rnn(scale=0.2, T=8)
    norms = viz.jacobian_norms(hs[-1], hs)
    f, s = norms["frobenius"], norms["spectral"]
    assert all(a < 0.5 * b for a, b in zip(f, f[1:]))                      # shrinks at least 2x per step back
    assert all(0 < x <= y * (1 + 1e-12) for x, y in zip(s, f))              # sigma_max <= Frobenius
    later = viz.jacobian_norms(hs[3], hs)                                   # h_3 does not depend on h_4 ...
    assert later["frobenius"][4:] == [0.0] * 4 and later["frobenius"][3] == pytest.approx(np.sqrt(8))


def test_render_jacobian_norms_for_rnn_lstm_and_gru(tmp_path):
    mg.manual_seed(0)
    pairs = {}
    for name, layer in (("RNN", nn.RNN), ("LSTM", nn.LSTM), ("GRU", nn.GRU)):
        out, _ = layer(3, 4, fused=False, unroll=True)(mg.randn(6, 1, 3))
        hs = viz.step_states(out.sum(), retain=False)["layer 0"]
        assert np.allclose(hs[-1].numpy(), out[-1].numpy())
        pairs[name] = (hs[-1], hs)
    norms, fig = viz.render_jacobian_norms(pairs, path=tmp_path / "jac.png")
    assert (tmp_path / "jac.png").read_bytes()[:4] == b"\x89PNG"
    assert list(norms) == ["RNN", "LSTM", "GRU"]
    for name, n in norms.items():
        assert len(n["frobenius"]) == 6 and n["frobenius"][-1] == pytest.approx(2.0)     # identity, 4x4
        assert n["frobenius"][0] < n["frobenius"][-1]
    assert len(fig.axes[0].get_lines()) == 6 and fig.axes[0].get_yscale() == "log"
    one, fig = viz.render_jacobian_norms(*pairs["RNN"])
    assert one == norms["RNN"]
    with pytest.raises(TypeError, match="hs"):
        viz.render_jacobian_norms(pairs["RNN"][0])
    with pytest.raises(ValueError, match="not part of a graph"):
        viz.state_jacobians(pairs["RNN"][0], [mg.zeros(1, 4)])


def test_jacobian_norms_are_plotted_at_the_time_step_of_each_state():
    """The k-th norm is drawn at t = start + k: 1..T for h_1..h_T (the default, as step_states gives them),
    0..T with start=0 when the states begin with the initial state h_0 (the point of dh_T/dh_0 sits at t = 0)."""
    rng = np.random.default_rng(0)
    W, U = (mg.tensor(rng.normal(size=shape) * 0.8, requires_grad=True) for shape in ((3, 4), (4, 4)))
    h0 = mg.tensor(rng.normal(size=(2, 4)) * 0.5, requires_grad=True)     # a leaf, so that dh_T/dh_0 exists
    hs = [h0] + tanh_rnn(W, U, mg.tensor(rng.normal(size=(5, 2, 3))), h0)   # [h_0, h_1, ..., h_5]
    norms, later = viz.jacobian_norms(hs[-1], hs), viz.jacobian_norms(hs[-1], hs[1:])
    assert len(norms["frobenius"]) == 6 and norms["frobenius"][1:] == later["frobenius"]
    for fig, xs in ((viz.plot_jacobian_norms(later), [1, 2, 3, 4, 5]),
                    (viz.plot_jacobian_norms(norms, start=0), [0, 1, 2, 3, 4, 5])):
        lines = fig.axes[0].get_lines()
        assert len(lines) == 2                                              # Frobenius and sigma_max
        for line in lines:
            assert list(line.get_xdata()) == xs
        frob = [line for line in lines if line.get_linestyle() == "-"][0]
        assert frob.get_ydata()[xs.index(5)] == pytest.approx(np.sqrt(8))    # dh_T/dh_T = I (8 units) at t = T = 5
    _, fig = viz.render_jacobian_norms({"a": (hs[-1], hs), "b": (hs[-1], hs[1:])}, start=0)
    assert [list(line.get_xdata())[0] for line in fig.axes[0].get_lines()] == [0, 0, 0, 0]
    with pytest.raises(TypeError, match="start must be an int"):
        viz.plot_jacobian_norms(norms, start=0.5)
