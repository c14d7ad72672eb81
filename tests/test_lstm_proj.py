"""nn.LSTM(..., proj_size=P): PyTorch's numbers, parameters and errors on the three paths (fused and fine-grained
steps, the speed path), which equal each other; gradients by finite differences; second derivatives.

The PyTorch numbers come from tests/data/torch_proj_golden.npz, written by tests/data/make_torch_proj_golden.py
(run by hand in a scratch environment); PyTorch is never imported here.
"""
import json
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from test_rnn import graph_nodes

F64 = mg.float64
GOLDEN = os.path.join(os.path.dirname(__file__), "data", "torch_proj_golden.npz")
_golden = np.load(GOLDEN, allow_pickle=False)
CASES = sorted({k.split("/")[0] for k in _golden.files if "/" in k})
PATHS = {"unroll_fused": dict(unroll=True, fused=True), "unroll_fine": dict(unroll=True, fused=False),
         "speed": dict(unroll=False)}


def t64(array, device="cpu", requires_grad=False):
    return mg.tensor(np.asarray(array, dtype=np.float64), dtype=F64, device=device, requires_grad=requires_grad)


# ----------------------------------------------------------------------------- PyTorch's numbers

def _config(case):
    return json.loads(str(_golden[case + "/config"]))


def _run_golden(case, path, device="cpu"):
    """The golden case through minigrad with the recorded state dict -> {name: array} as the file records."""
    get = lambda k: _golden[f"{case}/{k}"]                                 # noqa: E731
    cfg = _config(case)
    x = get("x")
    m = nn.LSTM(x.shape[-1], get("param/weight_ih_l0").shape[0] // 4, dtype=F64, **cfg["kwargs"], **PATHS[path])
    prefix = f"{case}/param/"
    m.load_state_dict({k[len(prefix):]: _golden[k] for k in _golden.files if k.startswith(prefix)})
    m.to(device)
    ins = {k: t64(get(k), device, requires_grad=True) for k in ("x", "h0", "c0") if f"{case}/{k}" in _golden.files}
    state = (ins["h0"], ins["c0"]) if cfg["state"] else None
    if cfg["kind"] == "plain":
        out, (h_n, c_n) = m(ins["x"], state)
    elif cfg["kind"] == "lengths":
        out, (h_n, c_n) = m(ins["x"], state, lengths=get("lengths"))
    else:
        packed = pack_padded_sequence(ins["x"], get("lengths"), batch_first=m.batch_first, enforce_sorted=False)
        out, (h_n, c_n) = m(packed, state)
        assert type(out) is PackedSequence
        out = out.data
    assert out.device == h_n.device == c_n.device == device
    loss = sum((t * t64(get(w), device)).sum() for t, w in ((out, "w_out"), (h_n, "w_h"), (c_n, "w_c")))
    loss.backward()
    got = {"out": out, "h_n": h_n, "c_n": c_n}
    got.update({"grad_" + k: t.grad for k, t in ins.items()})
    got.update({"grad/" + k: p.grad for k, p in m.named_parameters()})
    return {k: v.numpy() for k, v in got.items()}


def test_golden_file_covers_what_the_issue_asks():
    configs = [_config(c) for c in CASES]
    kw = [c["kwargs"] for c in configs]
    assert {k.get("num_layers", 1) for k in kw} == {1, 2}
    assert {k.get("bidirectional", False) for k in kw} == {False, True}
    assert {k.get("batch_first", False) for k in kw} == {False, True}
    assert {k.get("bias", True) for k in kw} == {False, True}
    assert {c["kind"] for c in configs} == {"plain", "lengths", "packed"}
    assert {c["state"] for c in configs} == {False, True}
    assert os.path.getsize(GOLDEN) < 500_000


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", list(PATHS))
def test_lstm_with_projection_equals_pytorch(case, path, device):
    got = _run_golden(case, path, device)
    expected = {k[len(case) + 1:] for k in _golden.files if k.startswith(case + "/")}
    expected -= {"config", "keys", "lengths", "x", "h0", "c0", "w_out", "w_h", "w_c"}
    expected -= {k for k in expected if k.startswith("param/")}
    assert set(got) == expected
    for k in sorted(expected):
        np.testing.assert_allclose(got[k], _golden[f"{case}/{k}"], rtol=0, atol=1e-10, err_msg=f"{case} {path}: {k}")


@pytest.mark.parametrize("case", CASES)
def test_the_three_paths_give_the_same_numbers(case):
    fused, fine, speed = (_run_golden(case, path) for path in PATHS)
    for k in fused:
        np.testing.assert_allclose(fine[k], fused[k], rtol=0, atol=1e-12, err_msg=f"{case} fine: {k}")
        np.testing.assert_allclose(speed[k], fused[k], rtol=0, atol=1e-12, err_msg=f"{case} speed: {k}")


# ----------------------------------------------------------------------------- parameters

@pytest.mark.parametrize("case", CASES)
def test_parameter_names_shapes_and_order_are_pytorchs(case):
    cfg = _config(case)
    m = nn.LSTM(_golden[case + "/x"].shape[-1], _golden[case + "/param/weight_ih_l0"].shape[0] // 4, **cfg["kwargs"])
    keys = [str(k) for k in _golden[case + "/keys"]]
    assert list(m.state_dict()) == keys
    assert [n for n, _ in m.named_parameters()] == keys
    for k, v in m.state_dict().items():
        assert v.shape == _golden[f"{case}/param/{k}"].shape, k


def test_shapes_of_a_two_layer_bidirectional_lstm_with_projection():
    m = nn.LSTM(7, 6, num_layers=2, bidirectional=True, proj_size=4)
    shapes = {k: tuple(v.shape) for k, v in m.named_parameters()}
    assert shapes["weight_ih_l0"] == (24, 7) and shapes["weight_hh_l0"] == (24, 4)
    assert shapes["weight_ih_l1_reverse"] == (24, 8) and shapes["weight_hh_l1_reverse"] == (24, 4)
    assert shapes["weight_hr_l0"] == shapes["weight_hr_l1_reverse"] == (4, 6)
    assert shapes["bias_ih_l1"] == (24,)
    out, (h_n, c_n) = m(mg.randn(5, 3, 7))
    assert out.shape == (5, 3, 8) and h_n.shape == (4, 3, 4) and c_n.shape == (4, 3, 6)
    assert m.proj_size == 4 and "proj_size=4" in repr(m)
    assert nn.LSTM(7, 6).proj_size == 0 and "proj_size" not in repr(nn.LSTM(7, 6))


def test_init_is_uniform_within_one_over_sqrt_hidden_for_every_weight_the_projection_too():
    m = nn.LSTM(3, 16, proj_size=5)
    bound = 1 / np.sqrt(16)
    for name, p in m.named_parameters():
        a = p.numpy()
        assert np.abs(a).max() <= bound, name
    hr = m.weight_hr_l0.numpy()
    assert hr.max() > 0.6 * bound and hr.min() < -0.6 * bound    # spread over the range, not zeros


def test_a_pytorch_state_dict_loads_as_is_and_a_wrong_shape_is_named():
    case = "bi_l2"
    sd = {k[len(case) + 7:]: _golden[k] for k in _golden.files if k.startswith(case + "/param/")}
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, dtype=F64)
    m.load_state_dict(sd)
    np.testing.assert_array_equal(m.weight_hr_l1_reverse.numpy(), sd["weight_hr_l1_reverse"])
    with pytest.raises(Exception, match="weight_hr_l0"):
        nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=3, dtype=F64).load_state_dict(sd)
    with pytest.raises(Exception, match="weight_hr"):
        nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=F64).load_state_dict(sd)   # unexpected keys


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("path", list(PATHS))
def test_gradcheck_through_two_bidirectional_layers_with_projection(path):
    mg.manual_seed(0)
    m = nn.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2, dtype=F64, **PATHS[path])
    rng = np.random.default_rng(1)
    x = t64(rng.standard_normal((4, 2, 2)), requires_grad=True)
    h0 = t64(rng.standard_normal((4, 2, 2)), requires_grad=True)
    c0 = t64(rng.standard_normal((4, 2, 3)), requires_grad=True)

    def fn(x, h0, c0, *params):
        out, (h_n, c_n) = m(x, (h0, c0), lengths=[4, 2])
        return out, h_n, c_n
    assert mg.gradcheck(fn, [x, h0, c0] + list(m.parameters()))


@pytest.mark.parametrize("path", list(PATHS))
def test_gradcheck_through_pack_projected_lstm_pad(path):
    mg.manual_seed(0)
    m = nn.LSTM(2, 3, proj_size=1, bidirectional=True, batch_first=True, dtype=F64, **PATHS[path])
    rng = np.random.default_rng(2)
    x = t64(rng.standard_normal((3, 4, 2)), requires_grad=True)

    def fn(x, *params):
        out, (h_n, c_n) = m(pack_padded_sequence(x, [2, 4, 1], batch_first=True, enforce_sorted=False))
        return pad_packed_sequence(out, batch_first=True)[0], h_n, c_n
    assert mg.gradcheck(fn, [x] + list(m.parameters()))


@pytest.mark.parametrize("path", list(PATHS))
def test_second_derivatives_through_a_projected_lstm(path):
    mg.manual_seed(0)
    m = nn.LSTM(2, 3, proj_size=2, bidirectional=True, dtype=F64, **PATHS[path])
    rng = np.random.default_rng(3)
    x = t64(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = t64(rng.standard_normal((2, 2, 2)), requires_grad=True)

    def fn(x, h0, w_hr, w_hh):
        out, (h_n, c_n) = m(x, (h0, mg.zeros(2, 2, 3, dtype=F64)), lengths=[3, 1])
        return out, h_n, c_n
    assert mg.gradgradcheck(fn, [x, h0, m.weight_hr_l0, m.weight_hh_l0_reverse], directions=4)


def test_fused_step_with_projection_differentiates_its_decomposition_like_the_fine_step():
    # create_graph=True through the fused node equals the fine-grained graph's second derivative
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 2))
    results = []
    for fused in (True, False):
        mg.manual_seed(0)
        m = nn.LSTM(2, 3, proj_size=2, dtype=F64, fused=fused)
        xt = t64(x, requires_grad=True)
        out, _ = m(xt)
        (g,) = mg.autograd.grad((out * out).sum(), [m.weight_hr_l0], create_graph=True)
        (gg,) = mg.autograd.grad((g * g).sum(), [xt])
        results.append((g.numpy(), gg.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path", list(PATHS))
def test_dropout_between_projected_layers_as_before(path):
    x = t64(np.random.default_rng(5).standard_normal((4, 2, 3)))
    mg.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, proj_size=2, dropout=0.5, dtype=F64, **PATHS[path])
    mg.manual_seed(1)
    train = m(x)[0].numpy()
    m.eval()
    evaluated = m(x)[0].numpy()
    assert not np.allclose(train, evaluated)
    mg.manual_seed(0)
    reference = nn.LSTM(3, 4, num_layers=2, proj_size=2, dtype=F64)      # same weights, no dropout
    np.testing.assert_allclose(evaluated, reference(x)[0].numpy(), rtol=0, atol=1e-12)


def test_dropout_draws_the_same_masks_on_every_path():
    x = t64(np.random.default_rng(6).standard_normal((4, 2, 3)))
    outs = []
    for path in PATHS.values():
        mg.manual_seed(0)
        m = nn.LSTM(3, 4, num_layers=3, proj_size=2, dropout=0.3, dtype=F64, **path)
        mg.manual_seed(1)
        outs.append(m(x)[0].numpy())
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], rtol=0, atol=1e-12)


@given(H=st.integers(2, 5), data=st.data(), T=st.integers(1, 4), B=st.integers(1, 3), bi=st.booleans(),
       layers=st.integers(1, 2))
def test_random_sizes_three_paths_agree(H, data, T, B, bi, layers):
    P = data.draw(st.integers(1, H - 1), label="P")
    lengths = data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B), label="lengths")
    rng = np.random.default_rng(T * 100 + B * 10 + H)
    x = rng.standard_normal((T, B, 2))
    results = []
    for path in PATHS.values():
        mg.manual_seed(0)
        m = nn.LSTM(2, H, num_layers=layers, bidirectional=bi, proj_size=P, dtype=F64, **path)
        xt = t64(x, requires_grad=True)
        out, (h_n, c_n) = m(xt, lengths=lengths)
        assert out.shape == (T, B, (2 if bi else 1) * P) and h_n.shape[-1] == P and c_n.shape[-1] == H
        ((out * out).sum() + (h_n * 2).sum() + c_n.sum()).backward()
        results.append([out.numpy(), h_n.numpy(), c_n.numpy(), xt.grad.numpy()] +
                       [p.grad.numpy() for p in m.parameters()])
    for other in results[1:]:
        for a, b in zip(other, results[0]):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_speed_path_is_one_node_per_layer_direction_and_says_it_projects():
    m = nn.LSTM(2, 3, proj_size=2, bidirectional=True, unroll=False, dtype=F64)
    out, _ = m(t64(np.ones((3, 1, 2))))
    layers = [n for n in graph_nodes(out) if n.meta and n.meta.get("granularity") == "layer"]
    assert sorted(n.label() for n in layers) == ["LSTM layer (3 steps, proj 2)",
                                                 "LSTM layer (3 steps, proj 2, reverse)"]
    assert all(n.attributes()["proj_size"] == 2 for n in layers)
    plain, _ = nn.LSTM(2, 3, unroll=False, dtype=F64)(t64(np.ones((3, 1, 2))))
    assert "proj_size" not in graph_nodes(plain)[0].attributes()


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("value, error, text", [
    (-1, ValueError, "LSTM: proj_size should be a positive integer or zero to disable projections, got -1"),
    (4, ValueError, "LSTM: proj_size has to be smaller than hidden_size, got proj_size=4 and hidden_size=4"),
    (9, ValueError, "proj_size has to be smaller than hidden_size"),
    (2.0, TypeError, "LSTM: proj_size must be an int"),
    ("2", TypeError, "LSTM: proj_size must be an int"),
    (True, TypeError, "LSTM: proj_size must be an int"),
])
def test_bad_proj_size_is_refused_naming_the_argument(value, error, text):
    with pytest.raises(error, match=text):
        nn.LSTM(3, 4, proj_size=value)


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU])
@pytest.mark.parametrize("value", [0, 2])
def test_only_lstm_takes_proj_size(cls, value):
    with pytest.raises(ValueError, match=f"{cls.__name__}: proj_size argument is only supported for LSTM"):
        cls(3, 4, proj_size=value)


@pytest.mark.parametrize("path", list(PATHS))
def test_wrong_initial_state_shapes_are_named(path):
    m = nn.LSTM(3, 4, num_layers=2, proj_size=2, **PATHS[path])
    x = mg.randn(5, 3, 3)
    with pytest.raises(ValueError, match=r"h0 of shape \(2, 3, 2\) \(num_layers\*directions, batch, proj_size\), "
                                         r"got \(2, 3, 4\)"):
        m(x, (mg.zeros(2, 3, 4), mg.zeros(2, 3, 4)))
    with pytest.raises(ValueError, match=r"c0 of shape \(2, 3, 4\) \(num_layers\*directions, batch, hidden_size\), "
                                         r"got \(2, 3, 2\)"):
        m(x, (mg.zeros(2, 3, 2), mg.zeros(2, 3, 2)))
    out, (h_n, c_n) = m(x, (mg.zeros(2, 3, 2), mg.zeros(2, 3, 4)))
    assert out.shape == (5, 3, 2) and h_n.shape == (2, 3, 2) and c_n.shape == (2, 3, 4)


def test_layer_function_checks_the_projection_shapes():
    from minigrad.ops.rnn_layers import lstm_layer
    x, w_ih, b = mg.randn(2, 1, 3), mg.randn(16, 3), mg.randn(16)
    with pytest.raises(ValueError, match=r"w_hh must be \(4\*H, P\)"):
        lstm_layer(x, w_ih, mg.randn(16, 4), b, b, None, None, w_hr=mg.randn(2, 4))
    with pytest.raises(ValueError, match=r"w_hr must have shape \(2, 4\)"):
        lstm_layer(x, w_ih, mg.randn(16, 2), b, b, None, None, w_hr=mg.randn(2, 3))
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 2\)"):
        lstm_layer(x, w_ih, mg.randn(16, 2), b, b, mg.randn(1, 4), None, w_hr=mg.randn(2, 4))
