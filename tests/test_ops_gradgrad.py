"""Second derivatives of every differentiable op against finite differences of the first (mg.gradgradcheck).

gradgradcheck differentiates each op's gradient, taken with create_graph=True, with respect to the inputs
and to the incoming gradient. Shapes, broadcasting, axes and indices are drawn by Hypothesis (as in
test_ops_grad.py, whose value generators are reused; smaller shapes and fewer examples, since each check
runs a differentiable backward per perturbed element). Then a few second derivatives are compared with
their formulas, and gradgradcheck is shown to catch a backward that is right only to first order.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.gradcheck import GradcheckError
from test_ops_grad import away_from, distinct, leaf, uniform

seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=3)
few = settings(max_examples=10)


def check(fn, arrays, device, **kwargs):
    """gradgradcheck `fn` at float64 leaves holding `arrays` (asserting the forward ran on `device`)."""
    inputs = [leaf(a, device) for a in arrays]
    out = fn(*inputs)
    out = out[0] if isinstance(out, tuple) else out
    assert out.device == device and out.dtype == mg.float64
    assert mg.gradgradcheck(fn, inputs, **kwargs) is True


# ----------------------------------------------------------------------------- arithmetic

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
    "mul_reuse": lambda a, b: a * b * a,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@few
@given(shapes=pairs, seed=seeds)
def test_binary_broadcasting(device, name, shapes, seed):
    sa, sb = shapes.input_shapes
    a = uniform(seed, sa, 0.5, 2.0) if name == "pow" else uniform(seed, sa)
    b = away_from(seed + 1, sb, points=(0.0,), gap=0.3)       # divisor away from zero
    check(BINARY[name], [a, b], device)


SCALAR = {
    "rsub": lambda x: 2.5 - x,
    "rdiv": lambda x: 2.5 / x,
    "neg": lambda x: -x,
    "cube": lambda x: x ** 3,
    "pow_-1.5": lambda x: x.abs() ** -1.5,
    "rpow": lambda x: 1.7 ** x,
}


@pytest.mark.parametrize("name", sorted(SCALAR))
@few
@given(shape=shapes, seed=seeds)
def test_with_python_scalar(device, name, shape, seed):
    check(SCALAR[name], [away_from(seed, shape, gap=0.3)], device)


# ----------------------------------------------------------------------------- elementwise functions

UNARY = {
    "exp": (lambda x: x.exp(), lambda s, shape: uniform(s, shape)),
    "log": (lambda x: x.log(), lambda s, shape: uniform(s, shape, 0.3, 3.0)),
    "tanh": (lambda x: x.tanh(), lambda s, shape: uniform(s, shape)),
    "sigmoid": (lambda x: x.sigmoid(), lambda s, shape: uniform(s, shape, -4.0, 4.0)),
    "sqrt": (lambda x: x.sqrt(), lambda s, shape: uniform(s, shape, 0.3, 3.0)),
    "relu": (lambda x: x.relu() * x, lambda s, shape: away_from(s, shape)),
    "abs": (lambda x: x.abs() * x, lambda s, shape: away_from(s, shape)),
    "clip": (lambda x: x.clip(-0.5, 0.7) * x, lambda s, shape: away_from(s, shape, points=(-0.5, 0.7))),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@few
@given(shape=shapes, seed=seeds)
def test_unary(device, name, shape, seed):
    fn, make = UNARY[name]
    check(fn, [make(seed, shape)], device)


# ----------------------------------------------------------------------------- reductions

@st.composite
def reduction_args(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    nd = len(shape)
    options = [st.none(), hnp.valid_tuple_axes(nd, min_size=0)]
    if nd:
        options.append(st.integers(-nd, nd - 1))
    return shape, draw(st.one_of(*options)), draw(st.booleans())


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@few
@given(args=reduction_args(), seed=seeds)
def test_reductions(device, op, args, seed):
    shape, axis, keepdims = args
    # squared, so the gradient flowing into the reduction's backward depends on x
    check(lambda x: getattr(x, op)(axis=axis, keepdims=keepdims) ** 2, [distinct(seed, shape)], device)


# ----------------------------------------------------------------------------- shapes, casts, devices

@st.composite
def shape_op_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    nd = len(shape)
    kind = draw(st.sampled_from(["reshape", "permute", "transpose", "squeeze", "unsqueeze", "broadcast_to",
                                 "T", "cast", "to_device"]))
    if kind == "reshape":
        return shape, kind, (-1,) + (1,) * draw(st.integers(0, 2))
    if kind == "permute":
        return shape, kind, tuple(draw(st.permutations(range(nd))))
    if kind == "transpose":
        return shape, kind, (draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1)))
    if kind == "unsqueeze":
        return shape, kind, draw(st.integers(-nd - 1, nd))
    if kind == "broadcast_to":
        return shape, kind, (draw(st.integers(1, 2)),) + tuple(draw(st.sampled_from([1, 2])) if n == 1 else n
                                                                for n in shape)
    return shape, kind, None


SHAPE_OPS = {
    "reshape": lambda x, a: x.reshape(a),
    "permute": lambda x, a: x.permute(*a),
    "transpose": lambda x, a: x.transpose(*a),
    "squeeze": lambda x, a: x.squeeze(),
    "unsqueeze": lambda x, a: x.unsqueeze(a),
    "broadcast_to": lambda x, a: mg.broadcast_to(x, a),
    "T": lambda x, a: x.T,
    "cast": lambda x, a: mg.ops.cast(x, mg.float64),
    "to_device": lambda x, a: mg.ops.to_device(x, x.device),
}


@settings(max_examples=20)
@given(args=shape_op_args(), seed=seeds)
def test_shape_ops(device, args, seed):
    shape, kind, arg = args
    check(lambda x: SHAPE_OPS[kind](x, arg) ** 2, [uniform(seed, shape)], device)


# ----------------------------------------------------------------------------- indexing and joining

@few
@given(data=st.data(), seed=seeds)
def test_getitem_basic(device, data, seed):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    index = data.draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    check(lambda x: x[index] ** 2, [uniform(seed, shape)], device)


@few
@given(n=st.integers(1, 3), data=st.data(), seed=seeds, kind=st.sampled_from(["repeats", "mask", "two_axes"]))
def test_getitem_advanced(device, n, data, seed, kind):
    """Integer arrays with repeats (which accumulate) and boolean masks: IndexAdd and GetItem both ways."""
    shape = (n, 2)
    if kind == "repeats":
        index = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=n + 1, max_size=2 * n + 1)))
    elif kind == "mask":
        index = np.random.default_rng(seed).random(shape) < 0.5
    else:
        picks = data.draw(st.lists(st.integers(0, n - 1), min_size=n + 1, max_size=n + 2))
        index = (np.array(picks), np.array([p % 2 for p in picks]))
    check(lambda x: x[index] ** 2, [uniform(seed, shape)], device)


@st.composite
def cat_args(draw):
    shape = draw(nonscalar_shapes)
    nd = len(shape)
    axis = draw(st.integers(-nd, nd - 1))
    sizes = draw(st.lists(st.integers(1, 2), min_size=1, max_size=3))
    return [shape[:axis % nd] + (s,) + shape[axis % nd + 1:] for s in sizes], axis


@few
@given(args=cat_args(), seed=seeds)
def test_cat(device, args, seed):
    shapes_, axis = args
    check(lambda *xs: mg.cat(xs, axis) ** 2, [uniform(seed + i, s) for i, s in enumerate(shapes_)], device)


@few
@given(shape=shapes, data=st.data(), count=st.integers(1, 3), seed=seeds)
def test_stack(device, shape, data, count, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check(lambda *xs: mg.stack(xs, axis) ** 2, [uniform(seed + i, shape) for i in range(count)], device)


@few
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=2, max_side=3), seed=seeds)
def test_where(device, shapes, seed):
    sc, sa, sb = shapes.input_shapes
    cond = np.random.default_rng(seed).random(sc) < 0.5
    check(lambda a, b: mg.where(cond, a * b, b * b), [uniform(seed, sa), uniform(seed + 1, sb)], device)


@few
@given(shape=nonscalar_shapes, data=st.data(), seed=seeds)
def test_unbind_and_split(device, shape, data, seed):
    """Multi-output ops, some pieces unused (their gradient is None, filled with zeros)."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    length = shape[axis]
    first = data.draw(st.integers(1, length))

    def fn(x):
        pieces = x.unbind(axis)
        head = x.split([first, length - first], axis)[0] if first < length else x
        return (pieces[-1] * pieces[0]).sum() + (head ** 3).sum()
    check(fn, [uniform(seed, shape)], device)


# ----------------------------------------------------------------------------- matmul

dims = st.integers(1, 3)


@few
@given(batches=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=1, max_side=2),
       n=dims, k=dims, m=dims, seed=seeds)
def test_matmul_batched_broadcast(device, batches, n, k, m, seed):
    ba, bb = batches.input_shapes
    check(lambda a, b: a @ b, [uniform(seed, ba + (n, k)), uniform(seed + 1, bb + (k, m))], device)


@few
@given(kind=st.sampled_from(["vec@vec", "vec@mat", "mat@vec"]), n=dims, k=dims, seed=seeds)
def test_matmul_vectors(device, kind, n, k, seed):
    a_shape, b_shape = {"vec@vec": ((k,), (k,)), "vec@mat": ((k,), (2, k, n)), "mat@vec": ((n, k), (k,))}[kind]
    check(lambda a, b: (a @ b) ** 2, [uniform(seed, a_shape), uniform(seed + 1, b_shape)], device)


# ----------------------------------------------------------------------------- neural-network ops

@few
@given(shape=nonscalar_shapes, data=st.data(), seed=seeds, log=st.booleans())
def test_softmax_log_softmax(device, shape, data, seed, log):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    check(lambda x: (F.log_softmax if log else F.softmax)(x, axis), [uniform(seed, shape)], device)


@st.composite
def class_loss_args(draw):
    """Scores (C,), (N, C) or (N, C, d) with targets of the matching shape, some equal to ignore_index."""
    c = draw(st.integers(1, 3))
    layout = draw(st.sampled_from(["unbatched", "batched", "spatial"]))
    n, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    x_shape, t_shape = {"unbatched": ((c,), ()), "batched": ((n, c), (n,)), "spatial": ((n, c, d), (n, d))}[layout]
    t = draw(hnp.arrays(np.int64, t_shape, elements=st.sampled_from(list(range(c)) + [-1])))
    return x_shape, t, draw(st.sampled_from(["mean", "sum", "none"]))


@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
@settings(max_examples=10)
@given(args=class_loss_args(), seed=seeds)
def test_class_losses(device, op, args, seed):
    """decompose: -(log_softmax) at the targets, masked by ignore_index, reduced as forward."""
    x_shape, t, reduction = args
    if reduction == "mean" and not (t != -1).any():
        t = np.zeros_like(t)                         # all ignored: the mean is nan, nothing to check
    targets = mg.tensor(t, device=device)
    scores = uniform(seed, x_shape) if op == "cross_entropy" else uniform(seed, x_shape, -3.0, -0.1)
    fn = getattr(F, op)
    check(lambda x: fn(x, targets, ignore_index=-1, reduction=reduction), [scores], device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@few
@given(shape=shapes, seed=seeds)
def test_mse_loss(device, reduction, shape, seed):
    check(lambda x, t: F.mse_loss(x, t, reduction=reduction), [uniform(seed, shape), uniform(seed + 1, shape)],
          device)


@few
@given(shape=shapes, seed=seeds)
def test_dropout(device, shape, seed):
    def fn(x):
        mg.manual_seed(seed)                         # the same mask at every evaluation
        return F.dropout(x, 0.4) ** 2
    check(fn, [uniform(seed, shape)], device)


@few
@given(ids=hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=3), elements=st.integers(0, 3)),
       padding_idx=st.sampled_from([None, 0, -1]), seed=seeds)
def test_embedding(device, ids, padding_idx, seed):
    """decompose: weight[ids], the padding row read as a constant (no gradient of any order)."""
    ids_t = mg.tensor(ids, device=device)
    check(lambda w: F.embedding(ids_t, w, padding_idx=padding_idx) ** 2, [uniform(seed, (4, 2))], device)


@few
@given(lead=hnp.array_shapes(min_dims=0, max_dims=2, max_side=2), n_in=dims, n_out=dims, bias=st.booleans(),
       seed=seeds)
def test_linear(device, lead, n_in, n_out, bias, seed):
    arrays = [uniform(seed, lead + (n_in,)), uniform(seed + 1, (n_out, n_in))] + ([uniform(seed + 2, (n_out,))]
                                                                                  if bias else [])
    check(lambda *a: F.linear(*a) ** 2, arrays, device)


def test_composite_layer(device):
    """Ops chained as a network chains them: every backward's graph feeds the next one's."""
    def layer(x, w, b):
        h = F.linear(x, w, b).tanh()
        return F.cross_entropy(h * h.sigmoid(), mg.tensor([0, 2], device=x.device)) + (x ** 2).sum().sqrt()
    check(layer, [uniform(0, (2, 3)), uniform(1, (3, 3)), uniform(2, (3,))], device)


# ----------------------------------------------------------------------------- exact second derivatives

def second_derivative(fn, x):
    """Elementwise d2 fn / dx2 of an elementwise fn: the gradient of the sum of its gradient."""
    g, = mg.autograd.grad(fn(x).sum(), x, create_graph=True)
    h, = mg.autograd.grad(g.sum(), x)
    return g, h


def test_tanh_second_derivative_is_exact():
    x_np = np.linspace(-3, 3, 13)
    t = np.tanh(x_np)
    g, h = second_derivative(lambda x: x.tanh(), leaf(x_np, "cpu"))
    np.testing.assert_allclose(g.numpy(), 1 - t ** 2, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h.numpy(), -2 * t * (1 - t ** 2), rtol=1e-12, atol=1e-15)


def test_cube_derivatives_to_third_order():
    x_np = np.array([-2.0, -0.5, 0.0, 1.5])
    x = leaf(x_np, "cpu")
    g, = mg.autograd.grad((x ** 3).sum(), x, create_graph=True)
    h, = mg.autograd.grad(g.sum(), x, create_graph=True)
    third, = mg.autograd.grad(h.sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * x_np ** 2, rtol=1e-15)
    np.testing.assert_allclose(h.numpy(), 6 * x_np, rtol=1e-15)
    np.testing.assert_allclose(third.numpy(), np.full(4, 6.0), rtol=1e-15)


def hvp(fn, x_np, v_np):
    """Hessian-vector product H v of the scalar fn at x, by double backward."""
    x = leaf(x_np, "cpu")
    g, = mg.autograd.grad(fn(x), x, create_graph=True)
    hv, = mg.autograd.grad((g * mg.tensor(v_np)).sum(), x)
    return hv.numpy()


def gradient(fn, x_np):
    x = leaf(x_np, "cpu")
    return mg.autograd.grad(fn(x), x)[0].numpy()


@pytest.mark.parametrize("loss", ["cross_entropy", "softmax"])
def test_hessian_vector_product_matches_formula_and_finite_differences(loss):
    rng = np.random.default_rng(5)
    x_np, v_np = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    targets = mg.tensor([1, 3, 0])
    p = np.exp(x_np) / np.exp(x_np).sum(axis=1, keepdims=True)
    if loss == "cross_entropy":
        def fn(x):
            return F.cross_entropy(x, targets)
        # each row's Hessian is (diag(p) - p p^T) / N
        expected = (p * v_np - p * (p * v_np).sum(axis=1, keepdims=True)) / 3
    else:
        w = rng.normal(size=(3, 4))

        def fn(x):
            return (F.softmax(x, -1) * mg.tensor(w)).sum()
        # f = <w, p>: d2f/dx_j dx_k = p_j (w_j - <w, p>)(d_jk - p_k) - p_j p_k (w_k - <w, p>) per row
        wp = (w * p).sum(axis=1, keepdims=True)
        a = p * (w - wp)
        expected = a * v_np - a * (p * v_np).sum(axis=1, keepdims=True) - p * (a * v_np).sum(axis=1, keepdims=True)
    got = hvp(fn, x_np, v_np)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    eps = 1e-5
    numeric = (gradient(fn, x_np + eps * v_np) - gradient(fn, x_np - eps * v_np)) / (2 * eps)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- gradgradcheck, the tool

class ExpSavingAnArray(mg.Function):
    """exp with a backward right to first order only: it reads exp(x) from an attribute, a constant of the
    derivative, instead of from self.saved, so the graph of its gradient misses d exp(x)/dx."""

    def forward(self, x):
        self.y = np.exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


def test_gradgradcheck_catches_a_backward_that_is_right_to_first_order_only():
    x = leaf([0.3, -1.2, 0.8], "cpu")
    assert mg.gradcheck(lambda t: ExpSavingAnArray()(t), [x])
    with pytest.raises(GradcheckError, match="analytic .* vs numeric"):
        mg.gradgradcheck(lambda t: ExpSavingAnArray()(t), [x])
    assert not mg.gradgradcheck(lambda t: ExpSavingAnArray()(t), [x], raise_exception=False)
    assert mg.gradgradcheck(lambda t: t.exp(), [x])                 # the library's Exp saves y properly


def test_gradgradcheck_with_given_grad_outputs_and_directions():
    x = leaf([[0.3, -1.2], [0.8, 0.1]], "cpu")
    go = leaf([[1.0, -2.0], [0.5, 3.0]], "cpu")
    assert mg.gradgradcheck(lambda t: (t @ t).tanh(), [x], [go])
    assert mg.gradgradcheck(lambda t: (t @ t).tanh(), [x], directions=3)
    with pytest.raises(ValueError, match="no input requires grad"):
        mg.gradgradcheck(lambda t: t * 2, [mg.tensor([1.0], dtype=mg.float64)])


@pytest.mark.parametrize("name", ["cross_entropy", "embedding", "log_softmax", "linear", "matmul"])
def test_first_order_gradient_is_the_same_with_and_without_create_graph(name):
    """create_graph only adds a graph: the fused array backward and the decomposition agree."""
    rng = np.random.default_rng(2)
    x_np, w_np = rng.normal(size=(4, 3)), rng.normal(size=(3, 3))
    fns = {
        "cross_entropy": lambda x, w: F.cross_entropy(x @ w, mg.tensor([0, -100, 2, 2])),
        "embedding": lambda x, w: (F.embedding(mg.tensor([[0, 2], [2, 1]]), x, padding_idx=2) * w[0, :]).sum(),
        "log_softmax": lambda x, w: (F.log_softmax(x, 0) * w[:, 0].sum()).sum(),
        "linear": lambda x, w: F.linear(x, w, w[0]).tanh().sum(),
        "matmul": lambda x, w: (x @ w @ w[0]).sum(),
    }
    x, w = leaf(x_np, "cpu"), leaf(w_np, "cpu")
    fast = mg.autograd.grad(fns[name](x, w), [x, w])
    graph = mg.autograd.grad(fns[name](x, w), [x, w], create_graph=True)
    for a, b in zip(fast, graph):
        assert b.requires_grad
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-13, atol=1e-15)


class SquareWithWrongDecompose(mg.Function):
    """x^2 with a right array backward but a `decompose` that is another function (x^3)."""

    def forward(self, x):
        self.saved = (x,)
        return x * x

    def backward(self, gy):
        x, = self.saved
        return 2 * x * gy

    def decompose(self, x):
        return x * x * x


def test_gradgradcheck_catches_a_decompose_that_differs_from_the_op():
    """The finite differences perturb the first-order array gradient; the analytic side uses decompose."""
    x = leaf([0.3, -1.2, 0.8], "cpu")
    assert mg.gradcheck(lambda t: SquareWithWrongDecompose()(t), [x])
    with pytest.raises(GradcheckError):
        mg.gradgradcheck(lambda t: SquareWithWrongDecompose()(t), [x])
