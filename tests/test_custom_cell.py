"""A user-written cell plugs into the one recurrent loop: layers, directions, padding, h_n and pictures for free."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from test_rnn import graph_nodes

F64 = mg.float64


class MGU(nn.Cell):
    """Minimal gated unit: f = sigmoid(x_f + h U_f), n = tanh(x_n + (f h) U_n), h' = (1 - f) h + f n."""
    name, gates = "MGU", 2

    def step(self, xw, state, w):
        (h,) = state
        x_f, x_n = xw.chunk(2, axis=-1)
        u_f, u_n = w["weight_hh"].chunk(2, axis=0)
        f = (x_f + h @ u_f.T).sigmoid()
        n = (x_n + (f * h) @ u_n.T).tanh()
        return ((1 - f) * h + f * n,)


class Peephole(nn.Cell):
    """An LSTM whose gates also see the cell state (Gers & Schmidhuber): an extra weight per gate."""
    name, gates, state_size = "Peephole", 4, 2

    def parameter_shapes(self, input_size, hidden_size, bias=True):
        return {**super().parameter_shapes(input_size, hidden_size, bias), "weight_ch": (3, hidden_size)}

    def step(self, xw, state, w):
        h, c = state
        i, f, g, o = (xw + h @ w["weight_hh"].T).chunk(4, axis=-1)
        p_i, p_f, p_o = w["weight_ch"].chunk(3, axis=0)
        i, f = (i + c * p_i).sigmoid(), (f + c * p_f).sigmoid()
        c = f * c + i * g.tanh()
        return (o + c * p_o).sigmoid() * c.tanh(), c


def mgu_by_hand(x, w_ih, w_hh, b_ih, b_hh, h, reverse=False, lengths=None):
    """The same MGU in plain NumPy over one layer-direction -> (outputs (T, B, H), h_T)."""
    T, H = x.shape[0], h.shape[1]
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    out = np.zeros((T, h.shape[0], H))
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        xw = x[t] @ w_ih.T + b_ih + b_hh
        f = sig(xw[:, :H] + h @ w_hh[:H].T)
        n = np.tanh(xw[:, H:] + (f * h) @ w_hh[H:].T)
        new = (1 - f) * h + f * n
        if lengths is not None:
            real = (t < np.asarray(lengths))[:, None]
            new = np.where(real, new, h)
        h = out[t] = new
    return out, h


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [4, 2, 0]])
def test_custom_cell_equals_its_equations_written_by_hand(reverse, lengths):
    mg.manual_seed(0)
    m = nn.Recurrent(MGU(), 3, 5, bidirectional=True, dtype=F64)
    x = mg.randn(4, 3, 3, dtype=F64)
    out, h_n = m(x, lengths=lengths)
    w = {k: v.numpy() for k, v in m.weights(0, reverse).items()}
    ref, h_T = mgu_by_hand(x.numpy(), w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"],
                           np.zeros((3, 5)), reverse, lengths)
    if lengths is not None:
        ref *= (np.arange(4)[:, None] < np.asarray(lengths))[:, :, None]
    d = 1 if reverse else 0
    np.testing.assert_allclose(out.numpy()[..., d * 5:(d + 1) * 5], ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h_n.numpy()[d], h_T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", [MGU(), Peephole()], ids=["MGU", "Peephole"])
def test_custom_cell_gets_layers_directions_padding_and_gradients(cell):
    """gradcheck (finite differences, float64) through 2 bidirectional layers of a padded batch, with h0."""
    mg.manual_seed(1)
    m = nn.Recurrent(cell, 3, 4, num_layers=2, bidirectional=True, dtype=F64)
    x = mg.randn(5, 3, 3, dtype=F64, requires_grad=True)
    h0 = tuple(mg.randn(4, 3, 4, dtype=F64, requires_grad=True) for _ in range(cell.state_size))
    params = list(m.parameters())

    def f(x, *rest):
        hx = rest[0] if cell.state_size == 1 else tuple(rest[:cell.state_size])
        out, h_n = m(x, hx, lengths=[5, 2, 3])
        return (out,) + (h_n if isinstance(h_n, tuple) else (h_n,))
    assert mg.gradcheck(f, (x,) + h0 + tuple(params), directions=6, atol=1e-7, rtol=1e-6)
    out, h_n = m(x, h0[0] if cell.state_size == 1 else h0, lengths=[5, 2, 3])
    assert out.shape == (5, 3, 8)
    states = (h_n,) if cell.state_size == 1 else h_n
    assert all(s.shape == (4, 3, 4) for s in states)
    assert "weight_ch_l1_reverse" in dict(m.named_parameters()) if isinstance(cell, Peephole) else True


def test_custom_cell_nodes_are_annotated_for_pictures():
    m = nn.Recurrent(MGU(), 2, 3, num_layers=2)
    out, _ = m(mg.randn(3, 1, 2))
    metas = [n.meta for n in graph_nodes(out) if n.meta and "t" in n.meta]
    assert {(d["cell"], d["granularity"]) for d in metas} == {("MGU", "ops")}
    assert {(d["layer"], d["t"]) for d in metas} == {(k, t) for k in range(2) for t in range(3)}


def test_custom_cell_without_a_whole_layer_node_says_to_unroll():
    m = nn.Recurrent(MGU(), 2, 3, unroll=False)
    with pytest.raises(NotImplementedError, match="MGU.*unroll=True"):
        m(mg.randn(3, 1, 2))


def test_custom_cell_renders_one_box_per_step_at_cell_detail(tmp_path):
    viz = pytest.importorskip("viz")
    pytest.importorskip("graphviz")
    m = nn.Recurrent(MGU(), 2, 3)
    out, _ = m(mg.randn(3, 1, 2))
    loss = out.sum()
    source = viz.draw_graph(loss, module=m, detail="cell").source
    assert source.count("MGU cell") == 3
    viz.render(loss, str(tmp_path / "mgu.svg"), module=m)
    assert (tmp_path / "mgu.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_the_readme_recurrent_layers_section_runs(tmp_path, monkeypatch):
    """The README's code for recurrent layers, the two paths and the custom cell runs as printed."""
    pytest.importorskip("graphviz")
    import pathlib
    import re
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = text[text.index("## Recurrent layers"):text.index("## Checkpoints")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec("import minigrad as mg\nfrom minigrad import nn\nimport viz\n" + "\n".join(blocks), scope)
    assert scope["out"].shape == (10, 3, 32) and scope["h_n"].shape == (4, 3, 16)
    assert "MGU cell" in (tmp_path / "mgu.svg").read_text()


def test_a_cell_without_a_name_is_called_by_its_class():
    class Plain(nn.Cell):
        def step(self, xw, state, w):
            return ((xw + state[0] @ w["weight_hh"].T).tanh(),)
    assert Plain.name == "Plain" and MGU.name == "MGU" and nn.LSTMGatedCell.name == "LSTM"
    out, _ = nn.Recurrent(Plain(), 2, 3)(mg.randn(2, 1, 2))
    assert {n.meta["cell"] for n in graph_nodes(out) if n.meta} == {"Plain"}
