"""LayerNorm, Embedding(padding_idx), masked_fill, module activations/losses and the Module API (buffers,
apply, requires_grad_) as PyTorch's: numbers recorded from PyTorch (tests/data/make_torch_layers_golden.py),
gradcheck/gradgradcheck against float64 finite differences, and behaviours."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

F64 = mg.float64
GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "data", "torch_layers_golden.npz"), allow_pickle=False)
TOL = dict(rtol=1e-10, atol=1e-12)


def g(key):
    return GOLDEN[key]


def leaf(key):
    return mg.tensor(g(key), dtype=F64, requires_grad=True)


# ----------------------------------------------------------------------------- PyTorch's numbers

LN_CASES = sorted({k.split("/")[1] for k in GOLDEN.files if k.startswith("layer_norm/")})


@pytest.mark.parametrize("case", LN_CASES)
def test_layer_norm_matches_torch(case):
    p = f"layer_norm/{case}/"
    x = leaf(p + "x")
    w = leaf(p + "weight") if p + "weight" in GOLDEN.files else None
    b = leaf(p + "bias") if p + "bias" in GOLDEN.files else None
    ns = tuple(int(n) for n in g(p + "normalized_shape"))
    y = F.layer_norm(x, ns, w, b, eps=1e-5)
    np.testing.assert_allclose(y.numpy(), g(p + "y"), **TOL)
    (y * mg.tensor(g(p + "gy"), dtype=F64)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), g(p + "grad_x"), **TOL)
    for name, t in (("weight", w), ("bias", b)):
        if t is not None:
            np.testing.assert_allclose(t.grad.numpy(), g(p + "grad_" + name), **TOL)


def test_layer_norm_module_matches_torch():
    p = "layer_norm/matrix/"
    ln = nn.LayerNorm((3, 4), dtype=F64)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(ln.weight.numpy(), np.ones((3, 4)))
    np.testing.assert_array_equal(ln.bias.numpy(), np.zeros((3, 4)))
    ln.load_state_dict({"weight": g(p + "weight"), "bias": g(p + "bias")})
    x = leaf(p + "x")
    y = ln(x)
    np.testing.assert_allclose(y.numpy(), g(p + "y"), **TOL)
    (y * mg.tensor(g(p + "gy"), dtype=F64)).sum().backward()
    np.testing.assert_allclose(ln.weight.grad.numpy(), g(p + "grad_weight"), **TOL)
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    assert nn.LayerNorm(4, bias=False).bias is None and nn.LayerNorm(4, bias=False).weight.shape == (4,)
    assert repr(nn.LayerNorm([2, 3])) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True, bias=True)"


def test_embedding_padding_idx_matches_torch():
    p = "embedding/"
    emb = nn.Embedding(6, 3, padding_idx=-2, dtype=F64)
    assert emb.padding_idx == int(g(p + "padding_idx")) == 4
    np.testing.assert_array_equal(emb.weight.numpy()[4], np.zeros(3))       # zero at init
    emb.load_state_dict({"weight": g(p + "weight")})
    out = emb(mg.tensor(g(p + "ids")))
    np.testing.assert_allclose(out.numpy(), g(p + "out"), **TOL)
    (out * mg.tensor(g(p + "gy"), dtype=F64)).sum().backward()
    np.testing.assert_allclose(emb.weight.grad.numpy(), g(p + "grad_weight"), **TOL)
    assert not emb.weight.grad.numpy()[4].any()
    assert repr(emb) == "Embedding(6, 3, padding_idx=4)"


def test_embedding_padding_row_has_no_second_derivative_either():
    w = mg.randn(5, 2, dtype=F64, requires_grad=True)
    ids = mg.tensor([[0, 3, 3], [1, 4, 0]])
    assert mg.gradgradcheck(lambda w: F.embedding(ids, w, padding_idx=3) ** 2, (w,))


def test_masked_softmax_matches_torch():
    p = "masked_softmax/"
    scores = leaf(p + "scores")
    mask = mg.tensor(g(p + "mask"))
    out = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    np.testing.assert_allclose(out.numpy(), g(p + "out"), **TOL)
    (out * mg.tensor(g(p + "gy"), dtype=F64)).sum().backward()
    assert np.isfinite(scores.grad.numpy()).all()
    np.testing.assert_allclose(scores.grad.numpy(), g(p + "grad"), **TOL)


MODULES = {"Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "ReLU": nn.ReLU, "Softmax_dim1": lambda: nn.Softmax(dim=1),
           "LogSoftmax_dim0": lambda: nn.LogSoftmax(dim=0), "Identity": nn.Identity,
           "CrossEntropyLoss_mean": lambda: nn.CrossEntropyLoss(ignore_index=1),
           "CrossEntropyLoss_sum": lambda: nn.CrossEntropyLoss(reduction="sum"),
           "CrossEntropyLoss_none": lambda: nn.CrossEntropyLoss(reduction="none", ignore_index=0),
           "NLLLoss_mean": nn.NLLLoss, "NLLLoss_none": lambda: nn.NLLLoss(reduction="none", ignore_index=2),
           "MSELoss_mean": nn.MSELoss, "MSELoss_sum": lambda: nn.MSELoss(reduction="sum"),
           "MSELoss_none": lambda: nn.MSELoss(reduction="none")}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_forms_match_torch(name):
    p = f"module/{name}/"
    x = leaf(p + "x")
    m = MODULES[name]()
    args = (x,) if p + "target" not in GOLDEN.files else (x, mg.tensor(g(p + "target")))
    out = m(*args)
    np.testing.assert_allclose(out.numpy(), g(p + "out"), **TOL)
    (out * mg.tensor(g(p + "gy"), dtype=F64)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), g(p + "grad"), **TOL)


# ----------------------------------------------------------------------------- finite differences

@settings(max_examples=15, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2), norm=st.lists(st.integers(1, 4), min_size=1,
       max_size=2), affine=st.sampled_from([(True, True), (True, False), (False, True), (False, False)]),
       seed=st.integers(0, 10_000))
def test_layer_norm_gradcheck_and_gradgradcheck(lead, norm, affine, seed):
    rng = np.random.default_rng(seed)
    shape, ns = tuple(lead) + tuple(norm), tuple(norm)      # ns of size 1 included: var = 0, y = 0
    x = mg.tensor(rng.normal(size=shape) * 2, dtype=F64, requires_grad=True)
    w = mg.tensor(rng.normal(size=ns), dtype=F64, requires_grad=True) if affine[0] else None
    b = mg.tensor(rng.normal(size=ns), dtype=F64, requires_grad=True) if affine[1] else None
    params = [t for t in (w, b) if t is not None]

    def fn(x, *ps):
        it = iter(ps)
        return F.layer_norm(x, ns, next(it) if w is not None else None, next(it) if b is not None else None)

    assert mg.gradcheck(fn, (x, *params))
    assert mg.gradgradcheck(fn, (x, *params))


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), mask_drop=st.integers(0, 3),
       seed=st.integers(0, 10_000), value=st.sampled_from([0.0, -3.5, 7.0]))
def test_masked_fill_gradcheck_and_gradgradcheck(shape, mask_drop, seed, value):
    rng = np.random.default_rng(seed)
    mask_shape = tuple(1 if i < mask_drop else n for i, n in enumerate(shape))[min(mask_drop, len(shape) - 1):]
    mask = mg.tensor(rng.random(mask_shape) < 0.4)
    x = mg.tensor(rng.normal(size=shape), dtype=F64, requires_grad=True)
    y = x.masked_fill(mask, value)
    expected = np.where(mask.numpy(), value, x.numpy())
    np.testing.assert_array_equal(y.numpy(), expected)
    assert mg.gradcheck(lambda x: x.masked_fill(mask, value) ** 2, (x,))
    assert mg.gradgradcheck(lambda x: x.masked_fill(mask, value) ** 3, (x,))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(~mask.numpy(), shape).astype(float))


def test_masked_fill_broadcasts_the_input_as_torch():
    x = mg.zeros(3, dtype=F64, requires_grad=True)
    y = x.masked_fill(mg.tensor([[True, False, False], [False, False, True]]), 1.0)
    assert y.shape == (2, 3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 1.0])


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("make, exc, words", [
    (lambda: F.layer_norm(mg.zeros(2, 3), 4), ValueError, ["layer_norm", "[*, 4]", "[2, 3]"]),
    (lambda: F.layer_norm(mg.zeros(2, 3), [3], mg.ones(4)), ValueError, ["weight", "[4]", "[3]"]),
    (lambda: F.layer_norm(mg.zeros(2, 3), []), ValueError, ["normalized_shape", "at least 1-dimensional"]),
    (lambda: nn.LayerNorm(2.5), TypeError, ["LayerNorm", "normalized_shape"]),
    (lambda: nn.Embedding(3, 2, padding_idx=3), ValueError, ["Embedding", "padding_idx", "3"]),
    (lambda: nn.Embedding(3, 2, padding_idx=-4), ValueError, ["Embedding", "padding_idx", "-4"]),
    (lambda: nn.Embedding(3, 2, padding_idx=1.0), TypeError, ["Embedding", "padding_idx"]),
    (lambda: nn.Embedding(3, 2, max_norm=1.0), NotImplementedError, ["Embedding", "max_norm"]),
    (lambda: mg.zeros(2).masked_fill(mg.ones(2), 0.0), TypeError, ["masked_fill", "bool", "float32"]),
    (lambda: mg.zeros(2, 3).masked_fill(mg.ones(4) > 0, 0.0), ValueError, ["masked_fill", "(4,)", "(2, 3)"]),
    (lambda: mg.zeros(2).masked_fill(mg.ones(2) > 0, "a"), TypeError, ["masked_fill", "value"]),
    (lambda: nn.CrossEntropyLoss(weight=mg.ones(3)), NotImplementedError, ["CrossEntropyLoss", "weight"]),
    (lambda: nn.CrossEntropyLoss(label_smoothing=0.1), NotImplementedError, ["label_smoothing", "0.1"]),
    (lambda: nn.NLLLoss(reduction="avg"), ValueError, ["NLLLoss", "reduction", "'avg'"]),
    (lambda: nn.MSELoss(size_average=True), NotImplementedError, ["MSELoss", "size_average", "reduction="]),
    (lambda: F.cross_entropy(mg.zeros(2, 3), [0, 1], weight=mg.ones(3)), NotImplementedError,
     ["cross_entropy", "weight"]),
    (lambda: nn.ReLU(inplace=True), NotImplementedError, ["ReLU", "inplace"]),
    (lambda: nn.Softmax(), TypeError, ["Softmax", "dim"]),
    (lambda: nn.Module().register_buffer("a.b", None), KeyError, ["register_buffer", "a.b"]),
    (lambda: nn.Module().register_buffer("a", 3), TypeError, ["register_buffer", "int", "'a'"]),
    (lambda: nn.Linear(2, 2).register_buffer("weight", None), KeyError, ["weight", "already exists"]),
    (lambda: nn.Linear(2, 2).to(mg.int64), TypeError, ["to", "floating", "int64"]),
])
def test_errors_name_the_argument(make, exc, words):
    with pytest.raises(exc) as info:
        make()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


# ----------------------------------------------------------------------------- Module API

class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 3)
        self.register_buffer("running", mg.zeros(3))
        self.register_buffer("count", mg.tensor([0, 0]))
        self.register_buffer("scratch", mg.ones(2), persistent=False)
        self.register_buffer("absent", None)


def test_buffers_in_state_dict_not_parameters():
    m = nn.Sequential(WithBuffers())
    assert list(m.state_dict()) == ["0.running", "0.count", "0.lin.weight", "0.lin.bias"]   # own, then children
    assert [n for n, _ in m.named_buffers()] == ["0.running", "0.count", "0.scratch"]
    assert len(list(m.buffers())) == 3 and len(list(m.parameters())) == 2
    state = {k: v.numpy() + 1 for k, v in m.state_dict().items()}
    m.load_state_dict(state)
    np.testing.assert_array_equal(m[0].running.numpy(), np.ones(3))
    np.testing.assert_array_equal(m[0].count.numpy(), [1, 1])
    with pytest.raises(RuntimeError, match="missing key '0.count'"):
        m.load_state_dict({k: v for k, v in state.items() if k != "0.count"})
    m[0].running = mg.full((3,), 5.0)                   # assignment replaces the buffer
    assert m.state_dict()["0.running"].numpy().tolist() == [5.0] * 3
    with pytest.raises(TypeError, match="buffer 'running'"):
        m[0].running = 3


def test_to_dtype_casts_only_floating_buffers():
    m = WithBuffers().to(mg.float64)
    assert m.running.dtype == mg.float64 and m.scratch.dtype == mg.float64 and m.lin.weight.dtype == mg.float64
    assert m.count.dtype == mg.int64
    assert m.cpu() is m and m.running.device == "cpu"


def test_apply_children_first_then_self_and_requires_grad_():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Tanh(), nn.Linear(2, 1)))
    order = []
    assert m.apply(lambda mod: order.append(type(mod).__name__)) is m
    assert order == ["Linear", "Tanh", "Linear", "Sequential", "Sequential"]
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
    m[1].requires_grad_()
    assert [p.requires_grad for p in m.parameters()] == [False, False, True, True]
    assert [type(c).__name__ for c in m.children()] == ["Linear", "Sequential"]
    assert [n for n, _ in m.named_modules()] == ["", "0", "1", "1.0", "1.1"]


def test_layer_norm_masked_fill_and_buffers_on_each_device(device):
    p = "masked_softmax/"
    scores = mg.tensor(g(p + "scores"), dtype=F64, device=device, requires_grad=True)
    mask = mg.tensor(g(p + "mask"), device=device)
    out = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    (out * mg.tensor(g(p + "gy"), dtype=F64, device=device)).sum().backward()
    assert out.device == scores.grad.device == device
    np.testing.assert_allclose(scores.grad.numpy(), g(p + "grad"), **TOL)
    p = "layer_norm/matrix/"
    ln = nn.LayerNorm((3, 4), dtype=F64).to(device)
    ln.load_state_dict({"weight": g(p + "weight"), "bias": g(p + "bias")})
    y = ln(mg.tensor(g(p + "x"), dtype=F64, device=device))
    np.testing.assert_allclose(y.numpy(), g(p + "y"), **TOL)
    m = WithBuffers().to(device)
    assert {b.device for b in m.buffers()} == {device}
