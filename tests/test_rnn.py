"""Recurrent cells and layers: gradients, fused vs fine-grained, semantics, PyTorch conventions and numbers.

The PyTorch numbers come from tests/data/torch_rnn_golden.npz, written by tests/data/make_torch_golden.py
(run by hand in a scratch environment); PyTorch itself is never imported here.
"""
import itertools
import json
import os
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

F64 = mg.float64
MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
GOLDEN = os.path.join(os.path.dirname(__file__), "data", "torch_rnn_golden.npz")


# ----------------------------------------------------------------------------- helpers

def make_layer(mode, input_size=3, hidden_size=3, dtype=F64, **kw):
    if mode.startswith("rnn"):
        return nn.RNN(input_size, hidden_size, nonlinearity=mode[4:], dtype=dtype, **kw)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[mode](input_size, hidden_size, dtype=dtype, **kw)


def make_cell(mode, input_size=3, hidden_size=2, dtype=F64, **kw):
    if mode.startswith("rnn"):
        return nn.RNNCell(input_size, hidden_size, nonlinearity=mode[4:], dtype=dtype, **kw)
    return {"lstm": nn.LSTMCell, "gru": nn.GRUCell}[mode](input_size, hidden_size, dtype=dtype, **kw)


def t64(array, requires_grad=False):
    return mg.tensor(np.asarray(array, dtype=np.float64), dtype=F64, requires_grad=requires_grad)


def layer_inputs(m, rng, T, B, with_state, dtype=np.float64):
    """(x, states): x in the layer's layout, states [] / [h0] / [h0, c0], all requiring grad."""
    D = 2 if m.bidirectional else 1
    x_shape = (B, T, m.input_size) if m.batch_first else (T, B, m.input_size)
    mk = lambda shape: mg.tensor(rng.standard_normal(shape).astype(dtype), dtype=dtype,  # noqa: E731
                                 requires_grad=True)
    x = mk(x_shape)
    n_states = (2 if isinstance(m, nn.LSTM) else 1) if with_state else 0
    return x, [mk((m.num_layers * D, B, m.hidden_size)) for _ in range(n_states)]


def run_layer(m, x, states, lengths=None):
    """-> [output, h_n] or [output, h_n, c_n]."""
    hx = None if not states else (tuple(states) if isinstance(m, nn.LSTM) else states[0])
    out, hn = m(x, hx, lengths=lengths)
    return [out] + (list(hn) if isinstance(m, nn.LSTM) else [hn])


def loss_and_grads(m, x, states, lengths=None, seed=1):
    """Outputs, and the gradients of a fixed random projection of them w.r.t. input, states, parameters."""
    outs = run_layer(m, x, states, lengths)
    rng = np.random.default_rng(seed)
    loss = None
    for o in outs:
        w = mg.tensor(rng.standard_normal(o.shape).astype(o.numpy().dtype), dtype=o.dtype)
        term = (o * w).sum()
        loss = term if loss is None else loss + term
    for t in [x] + states + list(m.parameters()):
        t.grad = None
    loss.backward()
    grads = {"x": x.grad.numpy().copy()}
    grads.update({f"state{i}": s.grad.numpy().copy() for i, s in enumerate(states)})
    grads.update({k: p.grad.numpy().copy() for k, p in m.named_parameters()})
    return [o.numpy().copy() for o in outs], grads


def graph_nodes(*tensors):
    """Every node reachable from the tensors' grad_fns (iterative walk)."""
    seen, stack = {}, [t.grad_fn for t in tensors if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(t.grad_fn for t in node.inputs if t.grad_fn is not None)
    return list(seen.values())


def expected_keys_and_shapes(G, input_size, H, L, D, bias):
    """PyTorch's RNN parameter convention, written out independently of minigrad/nn/rnn.py."""
    out = []
    for layer in range(L):
        layer_in = input_size if layer == 0 else H * D
        for suffix in ["", "_reverse"][:D]:
            out.append((f"weight_ih_l{layer}{suffix}", (G * H, layer_in)))
            out.append((f"weight_hh_l{layer}{suffix}", (G * H, H)))
            if bias:
                out.append((f"bias_ih_l{layer}{suffix}", (G * H,)))
                out.append((f"bias_hh_l{layer}{suffix}", (G * H,)))
    return out


# ----------------------------------------------------------------------------- gradcheck: cells

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("fused", [True, False])
def test_cell_gradcheck_elementwise(mode, with_state, bias, batched, fused, rng):
    cell = make_cell(mode, bias=bias, fused=fused)
    lead = (2,) if batched else ()
    x = t64(rng.standard_normal(lead + (3,)), True)
    states = [t64(rng.standard_normal(lead + (2,)), True) for _ in range((2 if mode == "lstm" else 1) * with_state)]
    params = list(cell.parameters())
    assert len(params) == (4 if bias else 2)

    def fn(x, *rest):
        states = rest[:len(rest) - len(params)]
        state = None if not states else (tuple(states) if mode == "lstm" else states[0])
        return cell(x, state)

    out = fn(x, *states, *params)
    for o in (out if mode == "lstm" else (out,)):
        assert o.shape == lead + (2,)
    assert mg.gradcheck(fn, [x, *states, *params], eps=1e-6, atol=1e-7, rtol=1e-5)


# ----------------------------------------------------------------------------- gradcheck: layers

LAYER_CONFIGS = list(itertools.product([1, 2], [False, True], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,with_state,with_lengths", LAYER_CONFIGS)
def test_layer_gradcheck_directions(mode, num_layers, bidirectional, batch_first, with_state, with_lengths, rng):
    m = make_layer(mode, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    T, B = 4, 3
    x, states = layer_inputs(m, rng, T, B, with_state)
    lengths = [2, 4, 3] if with_lengths else None
    params = list(m.parameters())

    def fn(x, *rest):
        return run_layer(m, x, list(rest[:len(states)]), lengths)

    assert mg.gradcheck(fn, [x, *states, *params], eps=1e-6, atol=1e-8, rtol=1e-6, directions=3)


@pytest.mark.parametrize("mode", MODES)
def test_fine_grained_layer_gradcheck(mode, rng):
    m = make_layer(mode, num_layers=2, bidirectional=True, fused=False)
    x, states = layer_inputs(m, rng, 4, 3, True)
    params = list(m.parameters())

    def fn(x, *rest):
        return run_layer(m, x, list(rest[:len(states)]), [4, 1, 3])

    assert mg.gradcheck(fn, [x, *states, *params], eps=1e-6, atol=1e-8, rtol=1e-6, directions=3)


def test_gradcheck_catches_a_wrong_parameter_gradient(rng, monkeypatch):
    """The direction check above is sharp enough: a fused LSTM backward off by 1% fails it."""
    from minigrad.ops import rnn_cells
    original = rnn_cells.FusedLSTMStep.backward

    def skewed(self, gh, gc):
        grads = list(original(self, gh, gc))
        grads[0] = grads[0] * 1.01                                     # d/d(gates)
        return tuple(grads)

    monkeypatch.setattr(rnn_cells.FusedLSTMStep, "backward", skewed)
    m = make_layer("lstm")
    x, states = layer_inputs(m, rng, 4, 3, True)
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(lambda x, *rest: run_layer(m, x, list(rest[:2])), [x, *states, *m.parameters()],
                     eps=1e-6, atol=1e-8, rtol=1e-6, directions=3)


# ----------------------------------------------------------------------------- fused vs fine-grained

FUSED_CONFIGS = [
    dict(),
    dict(num_layers=2, bidirectional=True, state=True),
    dict(num_layers=2, bidirectional=True, state=True, lengths=[5, 2, 4, 1]),
    dict(batch_first=True, lengths=[3, 5, 5, 2]),
    dict(bidirectional=True, batch_first=True, state=True, lengths=[1, 4, 5, 3], bias=False),
]


def _fused_vs_fine(mode, cfg, dtype, rng):
    cfg = dict(cfg)
    with_state, lengths = cfg.pop("state", False), cfg.pop("lengths", None)
    m = make_layer(mode, input_size=3, hidden_size=4, dtype=dtype, **cfg)
    x, states = layer_inputs(m, rng, 5, 4, with_state, dtype=np.dtype(dtype))
    m.fused = True
    outs_fused, grads_fused = loss_and_grads(m, x, states, lengths)
    m.fused = False
    outs_fine, grads_fine = loss_and_grads(m, x, states, lengths)
    return outs_fused, grads_fused, outs_fine, grads_fine


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", FUSED_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
# float32 gradients reach ~20 here, where one float32 ulp is ~2e-6: 1e-6 is relative there, absolute near 0
@pytest.mark.parametrize("dtype,rtol,atol", [(mg.float64, 0, 1e-12), (mg.float32, 1e-6, 1e-6)],
                         ids=["float64", "float32"])
def test_fused_equals_fine_grained_layer(mode, cfg, dtype, rtol, atol, rng):
    outs_fused, grads_fused, outs_fine, grads_fine = _fused_vs_fine(mode, cfg, dtype, rng)
    assert outs_fused[0].dtype == np.dtype(dtype)
    for a, b in zip(outs_fused, outs_fine):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    assert grads_fused.keys() == grads_fine.keys()
    for k in grads_fused:
        assert grads_fused[k].dtype == np.dtype(dtype), k
        np.testing.assert_allclose(grads_fused[k], grads_fine[k], rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("with_state", [False, True])
def test_fused_equals_fine_grained_cell(mode, with_state, rng):
    results = []
    cell = make_cell(mode, input_size=3, hidden_size=4)
    x = t64(rng.standard_normal((5, 3)), True)
    states = [t64(rng.standard_normal((5, 4)), True) for _ in range((2 if mode == "lstm" else 1) * with_state)]
    w = [t64(rng.standard_normal((5, 4))) for _ in range(2)]
    for fused in (True, False):
        cell.fused = fused
        for t in [x, *states, *cell.parameters()]:
            t.grad = None
        state = None if not states else (tuple(states) if mode == "lstm" else states[0])
        out = cell(x, state)
        out = out if mode == "lstm" else (out,)
        sum((o * wk).sum() for o, wk in zip(out, w)).backward()
        results.append([o.numpy() for o in out] +
                       [t.grad.numpy() for t in [x, *states, *cell.parameters()] if t.grad is not None])
    assert len(results[0]) == len(results[1])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode,fused_op", [("rnn_tanh", "FusedRNNStep"), ("lstm", "FusedLSTMStep"),
                                           ("gru", "FusedGRUStep")])
def test_fused_flag_changes_the_graph(mode, fused_op, rng):
    """The comparison above is not vacuous: fused=True makes one cell node per step, fused=False none."""
    m = make_layer(mode, num_layers=2, bidirectional=True)
    x, _ = layer_inputs(m, rng, 3, 2, False)
    names = [n.name for n in graph_nodes(*run_layer(m, x, []))]
    assert names.count(fused_op) == 2 * 2 * 3
    m.fused = False
    names_fine = [n.name for n in graph_nodes(*run_layer(m, x, []))]
    assert fused_op not in names_fine
    assert len(names_fine) > len(names) + 2 * 2 * 3


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("unroll,fused", [(True, True), (True, False), (False, True)])
def test_no_node_touches_another_nodes_state(mode, unroll, fused, rng):
    """One layer run on two batches, both graphs built before either runs backward (and backward in the other
    order), gives the gradients of the two runs made one at a time: no node keeps state in the layer."""
    m = make_layer(mode, num_layers=2, bidirectional=True, unroll=unroll, fused=fused)
    runs = [layer_inputs(m, rng, 4, 3, with_state=True) + ([2, 4, 3],), layer_inputs(m, rng, 4, 3, True) + (None,)]

    def loss_of(x, states, lengths):
        return sum((o * o).sum() for o in run_layer(m, x, states, lengths))
    alone = []
    for x, states, lengths in runs:
        loss_of(x, states, lengths).backward()
        alone.append(([p.grad.numpy().copy() for p in m.parameters()], x.grad.numpy().copy()))
        m.zero_grad()
        x.grad = None
    losses = [loss_of(*run) for run in runs]
    for loss in reversed(losses):
        loss.backward()
    for (x, _, _), (_, gx) in zip(runs, alone):
        np.testing.assert_array_equal(x.grad.numpy(), gx)
    for p, ga, gb in zip(m.parameters(), alone[0][0], alone[1][0]):
        np.testing.assert_allclose(p.grad.numpy(), ga + gb, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_second_backward_through_a_retained_graph_doubles_every_gradient(mode, rng):
    """A second backward rewrites the buffers the first one filled (the LSTM's gate gradients among them):
    what the first one accumulated must not change under it."""
    m = make_layer(mode, num_layers=2, bidirectional=True)
    x, states = layer_inputs(m, rng, 4, 3, with_state=True)
    loss = sum((o * o).sum() for o in run_layer(m, x, states, [4, 2, 3]))
    loss.backward(retain_graph=True)
    tensors = [x, *states, *m.parameters()]
    first = [t.grad.numpy().copy() for t in tensors]
    loss.backward()
    for t, g in zip(tensors, first):
        np.testing.assert_allclose(t.grad.numpy(), 2 * g, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- semantics

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("with_state", [False, True])
def test_reverse_direction_is_a_forward_layer_on_the_reversed_sequence(mode, with_state, rng):
    bi = make_layer(mode, input_size=3, hidden_size=4, bidirectional=True)
    uni = make_layer(mode, input_size=3, hidden_size=4)
    sd = bi.state_dict()
    uni.load_state_dict({k: sd[k + "_reverse"] for k in uni.state_dict()})
    x, states = layer_inputs(bi, rng, 6, 2, with_state)
    outs_bi = run_layer(bi, x, states)
    x_rev = t64(x.numpy()[::-1].copy())
    outs_uni = run_layer(uni, x_rev, [t64(s.numpy()[1:2]) for s in states])
    H = 4
    np.testing.assert_allclose(outs_bi[0].numpy()[:, :, H:], outs_uni[0].numpy()[::-1], rtol=0, atol=1e-14)
    for a, b in zip(outs_bi[1:], outs_uni[1:]):
        np.testing.assert_allclose(a.numpy()[1], b.numpy()[0], rtol=0, atol=1e-14)
    # the reverse h_n is the state after reading the whole sequence, i.e. its output at time step 0
    np.testing.assert_array_equal(outs_bi[1].numpy()[1], outs_bi[0].numpy()[0, :, H:])
    np.testing.assert_array_equal(outs_bi[1].numpy()[0], outs_bi[0].numpy()[-1, :, :H])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_padded_batch_equals_each_sequence_alone(mode, batch_first, rng):
    T, lengths = 6, [4, 6, 1, 3, 6, 2]
    m = make_layer(mode, input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=batch_first)
    x, states = layer_inputs(m, rng, T, len(lengths), True)
    outs = [o.numpy() for o in run_layer(m, x, states, lengths=lengths)]
    out = outs[0] if not batch_first else outs[0].transpose(1, 0, 2)        # (T, B, D*H)
    xs = x.numpy() if not batch_first else x.numpy().transpose(1, 0, 2)
    for b, n in enumerate(lengths):
        alone_x = xs[:n, b:b + 1]
        alone_x = t64(alone_x if not batch_first else alone_x.transpose(1, 0, 2))
        alone = [o.numpy() for o in run_layer(m, alone_x, [t64(s.numpy()[:, b:b + 1]) for s in states])]
        alone_out = alone[0] if not batch_first else alone[0].transpose(1, 0, 2)
        np.testing.assert_allclose(out[:n, b], alone_out[:, 0], rtol=0, atol=1e-13, err_msg=f"sequence {b}")
        np.testing.assert_array_equal(out[n:, b], 0.0)                      # padded output positions are zero
        for full, one in zip(outs[1:], alone[1:]):
            np.testing.assert_allclose(full[:, b], one[:, 0], rtol=0, atol=1e-13, err_msg=f"h_n of sequence {b}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("junk", ["large", "nan"])
def test_padding_values_change_nothing(mode, fused, junk, rng):
    T, lengths = 5, [2, 5, 3]
    m = make_layer(mode, input_size=3, hidden_size=4, num_layers=2, bidirectional=True, fused=fused)
    x, states = layer_inputs(m, rng, T, 3, True)
    outs, grads = loss_and_grads(m, x, states, lengths)
    padded = np.arange(T)[:, None] >= np.asarray(lengths)[None, :]           # (T, B)
    x2 = x.numpy().copy()
    x2[padded] = 1e3 * rng.standard_normal(x2[padded].shape) if junk == "large" else np.nan
    x2 = t64(x2, True)
    outs2, grads2 = loss_and_grads(m, x2, states, lengths)
    for a, b in zip(outs, outs2):
        np.testing.assert_array_equal(a, b)
    assert grads.keys() == grads2.keys()
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads2[k], err_msg=k)
    np.testing.assert_array_equal(grads["x"][padded], 0.0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("with_lengths", [False, True])
def test_batch_first_equals_transposed_layout(mode, with_lengths, rng):
    seq_first = make_layer(mode, input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    batch_first = make_layer(mode, input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True)
    batch_first.load_state_dict(seq_first.state_dict())
    x, states = layer_inputs(seq_first, rng, 5, 3, True)
    lengths = [5, 2, 3] if with_lengths else None
    a = run_layer(seq_first, x, states, lengths)
    b = run_layer(batch_first, x.transpose(0, 1), states, lengths)
    assert b[0].shape == (3, 5, 8)
    np.testing.assert_array_equal(a[0].numpy().transpose(1, 0, 2), b[0].numpy())
    for s, t in zip(a[1:], b[1:]):
        assert t.shape == (4, 3, 4)                                   # h_n stays (L*D, B, H)
        np.testing.assert_array_equal(s.numpy(), t.numpy())


@pytest.mark.parametrize("mode", MODES)
def test_dropout_between_layers_only_in_training(mode, rng):
    m = make_layer(mode, input_size=3, hidden_size=6, num_layers=3, dropout=0.5)
    plain = make_layer(mode, input_size=3, hidden_size=6, num_layers=3)
    plain.load_state_dict(m.state_dict())
    x, states = layer_inputs(m, rng, 5, 4, True)
    m.eval()
    eval_1 = [o.numpy() for o in run_layer(m, x, states)]
    eval_2 = [o.numpy() for o in run_layer(m, x, states)]
    reference = [o.numpy() for o in run_layer(plain, x, states)]
    for a, b, c in zip(eval_1, eval_2, reference):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)                          # eval: dropout is the identity
    m.train()
    train_1 = [o.numpy() for o in run_layer(m, x, states)]
    train_2 = [o.numpy() for o in run_layer(m, x, states)]
    assert not np.allclose(train_1[0], eval_1[0])
    assert not np.allclose(train_1[0], train_2[0])                   # fresh masks each call
    # the first layer's state is not affected by dropout (it acts on the inputs of layers 1 and 2),
    # and the last layer's output is not dropped (no exact zeros in it; ReLU makes zeros of its own)
    np.testing.assert_array_equal(train_1[1][0], eval_1[1][0])
    assert not np.allclose(train_1[1][1], eval_1[1][1])
    if mode != "rnn_relu":
        assert np.count_nonzero(train_1[0] == 0) == 0


@pytest.mark.parametrize("mode", MODES)
def test_dropout_with_one_layer_does_nothing(mode, rng):
    m = make_layer(mode, input_size=3, hidden_size=4, dropout=0.5)
    x, states = layer_inputs(m, rng, 4, 2, False)
    a = run_layer(m.train(), x, states)[0].numpy()
    b = run_layer(m.eval(), x, states)[0].numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["layer", "cell"])
def test_default_init_is_uniform_within_one_over_sqrt_hidden(mode, kind):
    H = 100
    m = (make_layer(mode, input_size=7, hidden_size=H, num_layers=2, bidirectional=True) if kind == "layer"
         else make_cell(mode, input_size=7, hidden_size=H))
    bound = 1 / np.sqrt(H)
    for k, p in m.named_parameters():
        v = p.numpy().ravel()
        n = v.size
        assert np.abs(v).max() <= bound, k
        assert np.abs(v).max() > 0.9 * bound, k                    # reaches the ends (P(fail) <= 0.9^100)
        # U(-a, a): mean 0 and std a/sqrt(3); allow 4 standard errors of each estimate
        assert abs(v.mean()) < 4 * bound / np.sqrt(3 * n), k
        assert abs(v.std() / (bound / np.sqrt(3)) - 1) < 4 * 0.45 / np.sqrt(n), k


def test_layer_output_and_state_shapes():
    T, B, H = 5, 3, 4
    for mode, L, D, bf in itertools.product(MODES, [1, 3], [1, 2], [False, True]):
        m = make_layer(mode, input_size=2, hidden_size=H, num_layers=L, bidirectional=D == 2, batch_first=bf)
        x = mg.zeros(*((B, T, 2) if bf else (T, B, 2)), dtype=F64)
        outs = run_layer(m, x, [])
        assert outs[0].shape == ((B, T, D * H) if bf else (T, B, D * H))
        assert len(outs) == (3 if mode == "lstm" else 2)
        for s in outs[1:]:
            assert s.shape == (L * D, B, H)


# ----------------------------------------------------------------------------- state_dict convention

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_keys_order_and_shapes(mode, num_layers, bidirectional, bias):
    m = make_layer(mode, input_size=5, hidden_size=7, num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    expected = expected_keys_and_shapes(GATES[mode], 5, 7, num_layers, 2 if bidirectional else 1, bias)
    sd = m.state_dict()
    assert list(sd) == [k for k, _ in expected]                        # PyTorch's order
    assert [tuple(v.shape) for v in sd.values()] == [s for _, s in expected]
    assert [k for k, _ in m.named_parameters()] == [k for k, _ in expected]
    m.load_state_dict({k: np.zeros(s) for k, s in expected}, strict=True)
    assert all(not p.numpy().any() for p in m.parameters())


@pytest.mark.parametrize("mode", MODES)
def test_cell_state_dict_keys(mode):
    G = GATES[mode]
    assert [(k, tuple(v.shape)) for k, v in make_cell(mode, 5, 7).state_dict().items()] == [
        ("weight_ih", (G * 7, 5)), ("weight_hh", (G * 7, 7)), ("bias_ih", (G * 7,)), ("bias_hh", (G * 7,))]
    assert list(make_cell(mode, 5, 7, bias=False).state_dict()) == ["weight_ih", "weight_hh"]


def test_load_state_dict_rejects_a_wrong_rnn_shape():
    m = nn.LSTM(3, 4, num_layers=2)
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    sd["weight_ih_l1"] = np.zeros((16, 3))                            # layer 1 reads H*D = 4 features
    with pytest.raises(RuntimeError, match=r"weight_ih_l1.*\(16, 4\).*\(16, 3\)"):
        m.load_state_dict(sd)


# ----------------------------------------------------------------------------- name scopes

def test_fused_step_nodes_carry_layer_direction_and_time_scopes(rng):
    m = make_layer("lstm", num_layers=2, bidirectional=True)
    x, _ = layer_inputs(m, rng, 5, 2, False)
    nodes = [n for n in graph_nodes(*run_layer(m, x, [])) if n.name == "FusedLSTMStep"]
    found = [n for n in nodes if n.scope[-2:] == ("l1_reverse", "t=3")]
    assert len(found) == 1
    assert {n.scope[-2:] for n in nodes} == {(f"l{k}{d}", f"t={t}") for k in range(2) for d in ("", "_reverse")
                                             for t in range(5)}
    assert mg.current_scope() == ()


def test_fine_grained_gate_nodes_share_the_step_scope(rng):
    m = make_layer("gru", num_layers=1, fused=False)
    x, _ = layer_inputs(m, rng, 3, 2, False)
    nodes = graph_nodes(*run_layer(m, x, []))
    in_step = [n for n in nodes if n.scope[-2:] == ("l0", "t=1")]
    names = {n.name for n in in_step}
    assert {"Sigmoid", "Tanh"} <= names, names


# ----------------------------------------------------------------------------- long sequences

def test_lstm_over_10000_steps_backward_without_recursion_error(rng):
    T, B, H = 10_000, 2, 8
    m = nn.LSTM(3, H, dtype=F64)
    x = t64(rng.standard_normal((T, B, 3)))
    h0 = t64(rng.standard_normal((1, B, H)), True)
    c0 = t64(rng.standard_normal((1, B, H)), True)
    out, (h_n, c_n) = m(x, (h0, c0))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        (out[-1].sum() + out.mean()).backward()
    finally:
        sys.setrecursionlimit(limit)
    assert h0.grad is not None and np.isfinite(h0.grad.numpy()).all()
    assert np.isfinite(m.weight_hh_l0.grad.numpy()).all() and np.abs(m.weight_hh_l0.grad.numpy()).sum() > 0


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("mode", MODES)
def test_errors_name_the_layer_and_shapes(mode):
    m = make_layer(mode, input_size=3, hidden_size=4, num_layers=2)
    name = type(m).__name__
    x = mg.zeros(5, 2, 3, dtype=F64)
    with pytest.raises(ValueError, match=rf"{name}.*input_size=3.*\(5, 2, 7\)"):
        m(mg.zeros(5, 2, 7, dtype=F64))
    with pytest.raises(ValueError, match=rf"{name}.*\(5, 2, 3, 1\)"):
        m(mg.zeros(5, 2, 3, 1, dtype=F64))
    with pytest.raises(ValueError, match=rf"{name}.*\(3,\)"):
        m(mg.zeros(3, dtype=F64))
    bad = mg.zeros(1, 2, 4, dtype=F64)                                 # one layer's worth instead of two
    good = mg.zeros(2, 2, 4, dtype=F64)
    with pytest.raises(ValueError, match=rf"{name}.*\(2, 2, 4\).*\(1, 2, 4\)"):
        m(x, (bad, good) if mode == "lstm" else bad)
    if mode == "lstm":
        with pytest.raises(ValueError, match=r"LSTM.*\(2, 2, 4\).*\(2, 3, 4\)"):
            m(x, (good, mg.zeros(2, 3, 4, dtype=F64)))
        with pytest.raises(TypeError, match=r"LSTM.*tuple.*Tensor"):
            m(x, good)
    with pytest.raises(ValueError, match=rf"{name}.*\[0, 5\].*\[6, 2\]"):
        m(x, lengths=[6, 2])
    with pytest.raises(ValueError, match=rf"{name}.*\[0, 5\].*\[-1, 2\]"):
        m(x, lengths=[-1, 2])
    with pytest.raises(ValueError, match=rf"{name}.*2 integers.*\[5, 2, 1\]"):
        m(x, lengths=[5, 2, 1])


@pytest.mark.parametrize("mode", MODES)
def test_cell_errors_name_the_cell_and_shapes(mode):
    cell = make_cell(mode, input_size=3, hidden_size=2)
    name = type(cell).__name__
    with pytest.raises(ValueError, match=rf"{name}.*\(4, 5\)"):
        cell(mg.zeros(4, 5, dtype=F64))
    with pytest.raises(ValueError, match=rf"{name}.*\(1, 4, 3\)"):
        cell(mg.zeros(1, 4, 3, dtype=F64))


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"RNN.*nonlinearity.*'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"RNNCell.*nonlinearity.*'gelu'"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"LSTM.*num_layers.*0"):
        nn.LSTM(3, 4, num_layers=0)
    with pytest.raises(ValueError, match=r"GRU.*dropout.*1\.5"):
        nn.GRU(3, 4, dropout=1.5)


# ----------------------------------------------------------------------------- PyTorch's numbers

_golden = np.load(GOLDEN, allow_pickle=False)
GOLDEN_CASES = sorted({k.split("/")[0] for k in _golden.files if "/" in k})


def test_golden_file_covers_every_kind_of_case():
    configs = [json.loads(str(_golden[c + "/config"])) for c in GOLDEN_CASES]
    kinds = {(k, m) for k in ("layer", "cell") for m in ("rnn", "lstm", "gru")}
    assert {(c["kind"], c["mode"]) for c in configs} == kinds
    layers = [c for c in configs if c["kind"] == "layer"]
    assert {c["kwargs"].get("nonlinearity") for c in layers if c["mode"] == "rnn"} == {"tanh", "relu"}
    for mode in ("rnn", "lstm", "gru"):
        mine = [c for c in layers if c["mode"] == mode]
        assert any(c["kwargs"].get("num_layers") == 2 and c["kwargs"].get("bidirectional") for c in mine)
        assert any(c["kwargs"].get("batch_first") for c in mine)
        assert any(c["state"] for c in mine) and any(not c["state"] for c in mine)
        assert any(c["lengths"] for c in mine)
    assert os.path.getsize(GOLDEN) < 1_000_000


@pytest.mark.parametrize("case", GOLDEN_CASES)
@pytest.mark.parametrize("fused", [True, False])
def test_pytorch_state_dict_loads_and_gives_pytorch_numbers(case, fused, device):
    get = lambda k: _golden[f"{case}/{k}"]                                # noqa: E731
    has = lambda k: f"{case}/{k}" in _golden.files                      # noqa: E731
    cfg = json.loads(str(get("config")))
    kw = dict(cfg["kwargs"])
    if cfg["mode"] == "rnn" and cfg["kind"] == "cell":
        cls = nn.RNNCell
    else:
        cls = {("layer", "rnn"): nn.RNN, ("layer", "lstm"): nn.LSTM, ("layer", "gru"): nn.GRU,
               ("cell", "lstm"): nn.LSTMCell, ("cell", "gru"): nn.GRUCell}[cfg["kind"], cfg["mode"]]
    x = get("x")
    input_size, hidden_size = x.shape[-1], get("param/weight_hh" + ("_l0" if cfg["kind"] == "layer" else "")).shape[1]
    m = cls(input_size, hidden_size, fused=fused, dtype=F64, **kw)
    prefix = f"{case}/param/"
    torch_sd = {k[len(prefix):]: _golden[k] for k in _golden.files if k.startswith(prefix)}
    missing, unexpected = m.load_state_dict(torch_sd, strict=True)
    assert missing == [] and unexpected == []
    assert list(torch_sd) == list(m.state_dict())                         # same keys, same order
    m.to(device)

    ins = {k: mg.tensor(get(k), dtype=F64, device=device, requires_grad=True) for k in ("x", "h0", "c0") if has(k)}
    state = None
    if "h0" in ins:
        state = (ins["h0"], ins["c0"]) if cfg["mode"] == "lstm" else ins["h0"]
    if cfg["kind"] == "layer":
        out, hn = m(ins["x"], state, lengths=get("lengths") if has("lengths") else None)
        results = {"out": out, "h_n": hn[0], "c_n": hn[1]} if cfg["mode"] == "lstm" else {"out": out, "h_n": hn}
    else:
        out = m(ins["x"], state)
        results = {"out": out[0], "c_n": out[1]} if cfg["mode"] == "lstm" else {"out": out}
    weights = {"out": "w_out", "h_n": "w_h", "c_n": "w_c"}
    assert {k for k in weights if has(k)} == set(results)
    loss = None
    for k, t in results.items():
        assert t.device == device
        np.testing.assert_allclose(t.numpy(), get(k), rtol=0, atol=1e-10, err_msg=f"{case}: {k}")
        term = (t * mg.tensor(get(weights[k]), dtype=F64, device=device)).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    for k, p in m.named_parameters():
        expected = get("grad/" + k)
        if p.grad is None:
            # minigrad skips the recurrent matmul of a zero state, so W_hh gets no gradient where
            # PyTorch's is exactly zero; anything else without a gradient is a bug
            assert cfg["kind"] == "cell" and not cfg["state"] and k == "weight_hh", k
            np.testing.assert_array_equal(expected, 0.0)
        else:
            np.testing.assert_allclose(p.grad.numpy(), expected, rtol=0, atol=1e-10, err_msg=f"{case}: d/d{k}")
    for k, t in ins.items():
        np.testing.assert_allclose(t.grad.numpy(), get("grad_" + k), rtol=0, atol=1e-10, err_msg=f"{case}: d/d{k}")


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("fused", [True, False])
def test_float64_input_into_float32_layer_promotes_like_numpy(mode, fused):
    """Mixed dtypes promote (NumPy's rule) in every cell form alike: fused and fine-grained agree on the dtype."""
    layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[mode](3, 4, fused=fused)
    out, _ = layer(mg.tensor(np.ones((2, 1, 3))))
    assert out.dtype == np.float64
