"""Gradients of every differentiable op against central finite differences (float64, mg.gradcheck).

Shapes, broadcasting partners, axes and indices are drawn by Hypothesis; values come from a NumPy
generator seeded by a drawn integer. Inputs of ops with kinks (relu, abs, clip, max/min) are kept away
from the kinks and from ties, where the derivative is not defined.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)


def leaf(array, device):
    return mg.tensor(np.asarray(array, dtype=np.float64), dtype=mg.float64, device=device, requires_grad=True)


def check(fn, arrays, device, **kwargs):
    """gradcheck `fn` at float64 leaves holding `arrays` (asserting the forward ran on `device`)."""
    inputs = [leaf(a, device) for a in arrays]
    out = fn(*inputs)
    assert out.device == device and out.dtype == mg.float64
    assert mg.gradcheck(fn, inputs, **kwargs) is True


def uniform(seed, shape, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def away_from(seed, shape, points=(0.0,), gap=0.1, low=-2.0, high=2.0):
    """Uniform values with none closer than `gap` to any of `points` (kinks of relu/abs/clip)."""
    x = uniform(seed, shape, low, high)
    for p in points:
        near = np.abs(x - p) < gap
        x = np.where(near, p + np.where(x >= p, 2 * gap, -2 * gap), x)
    return x


def distinct(seed, shape):
    """Values at least 0.05 apart (no ties for max/min), in random order and random offset."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    x = rng.permutation(n) * 0.1 + rng.uniform(-0.02, 0.02, size=n) + rng.uniform(-1, 1)
    return x.reshape(shape)


# ----------------------------------------------------------------------------- arithmetic

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "add_fn": lambda a, b: mg.ops.add(a, b),
    "mul_reuse": lambda a, b: a * b * a,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=pairs, seed=seeds)
def test_binary_broadcasting(device, name, shapes, seed):
    sa, sb = shapes.input_shapes
    a = uniform(seed, sa)
    b = away_from(seed + 1, sb, points=(0.0,), gap=0.3)       # divisor away from zero
    check(BINARY[name], [a, b], device)


REFLECTED = {
    "radd": lambda x: 2.5 + x,
    "rsub": lambda x: 2.5 - x,
    "rmul": lambda x: 2.5 * x,
    "rdiv": lambda x: 2.5 / x,
    "scalar_div": lambda x: x / 4,
    "neg": lambda x: -x,
    "neg_fn": lambda x: mg.ops.neg(x),
}


@pytest.mark.parametrize("name", sorted(REFLECTED))
@given(shape=shapes, seed=seeds)
def test_with_python_scalar(device, name, shape, seed):
    check(REFLECTED[name], [away_from(seed, shape, gap=0.3)], device)


@given(shape=shapes, seed=seeds, exponent=st.sampled_from([-2.5, -1.0, 0.5, 1.5, 2.0, 3.0]))
def test_pow_tensor_scalar(device, shape, seed, exponent):
    check(lambda x: x ** exponent, [uniform(seed, shape, 0.5, 2.0)], device)


@given(shape=shapes, seed=seeds, exponent=st.sampled_from([2, 3]))
def test_pow_negative_base_integer_exponent(device, shape, seed, exponent):
    check(lambda x: x ** exponent, [away_from(seed, shape, gap=0.3)], device)


@given(shapes=pairs, seed=seeds)
def test_pow_tensor_tensor_positive_base(device, shapes, seed):
    sa, sb = shapes.input_shapes
    check(lambda a, b: a ** b, [uniform(seed, sa, 0.5, 2.0), uniform(seed + 1, sb, -2.0, 2.0)], device)


@given(shape=shapes, seed=seeds, base=st.floats(0.3, 3.0))
def test_pow_scalar_tensor(device, shape, seed, base):
    check(lambda x: base ** x, [uniform(seed, shape)], device)


# ----------------------------------------------------------------------------- matmul

dims = st.integers(1, 4)
batch_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=3)


@given(n=dims, k=dims, m=dims, seed=seeds)
def test_matmul_2d(device, n, k, m, seed):
    check(lambda a, b: a @ b, [uniform(seed, (n, k)), uniform(seed + 1, (k, m))], device)


@given(batches=batch_pairs, n=dims, k=dims, m=dims, seed=seeds)
def test_matmul_batched_broadcast(device, batches, n, k, m, seed):
    ba, bb = batches.input_shapes
    check(mg.matmul, [uniform(seed, ba + (n, k)), uniform(seed + 1, bb + (k, m))], device)


@given(kind=st.sampled_from(["vec@vec", "vec@mat", "mat@vec"]),
       batch=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
       n=dims, k=dims, seed=seeds)
def test_matmul_vectors(device, kind, batch, n, k, seed):
    a_shape, b_shape = {"vec@vec": ((k,), (k,)), "vec@mat": ((k,), batch + (k, n)),
                        "mat@vec": (batch + (n, k), (k,))}[kind]
    check(lambda a, b: a @ b, [uniform(seed, a_shape), uniform(seed + 1, b_shape)], device)


# ----------------------------------------------------------------------------- elementwise functions

UNARY = {
    # name: (function, input generator)
    "exp": (lambda x: x.exp(), lambda s, shape: uniform(s, shape)),
    "log": (lambda x: x.log(), lambda s, shape: uniform(s, shape, 0.2, 3.0)),
    "tanh": (lambda x: x.tanh(), lambda s, shape: uniform(s, shape, -3.0, 3.0)),
    "sigmoid": (lambda x: x.sigmoid(), lambda s, shape: uniform(s, shape, -5.0, 5.0)),
    "relu": (lambda x: x.relu(), lambda s, shape: away_from(s, shape)),
    "sqrt": (lambda x: x.sqrt(), lambda s, shape: uniform(s, shape, 0.2, 3.0)),
    "abs": (lambda x: x.abs(), lambda s, shape: away_from(s, shape)),
    "clip": (lambda x: x.clip(-0.5, 0.7), lambda s, shape: away_from(s, shape, points=(-0.5, 0.7))),
    "clip_lo": (lambda x: x.clip(-0.5, None), lambda s, shape: away_from(s, shape, points=(-0.5,))),
    "clip_hi": (lambda x: mg.clip(x, hi=0.7), lambda s, shape: away_from(s, shape, points=(0.7,))),
    "fn_exp": (mg.exp, lambda s, shape: uniform(s, shape)),
    "fn_log": (mg.log, lambda s, shape: uniform(s, shape, 0.2, 3.0)),
    "fn_tanh": (mg.tanh, lambda s, shape: uniform(s, shape)),
    "fn_sigmoid": (mg.sigmoid, lambda s, shape: uniform(s, shape)),
    "fn_relu": (mg.relu, lambda s, shape: away_from(s, shape)),
    "fn_sqrt": (mg.sqrt, lambda s, shape: uniform(s, shape, 0.2, 3.0)),
    "fn_abs": (mg.abs, lambda s, shape: away_from(s, shape)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary(device, name, shape, seed):
    fn, make = UNARY[name]
    check(fn, [make(seed, shape)], device)


def test_relu_abs_clip_gradients_off_the_kinks(device):
    x = leaf([-1.5, -0.2, 0.3, 2.0], device)
    (x.relu() + 10 * x.abs() + 100 * x.clip(-1.0, 1.0)).sum().backward()
    relu = np.array([0, 0, 1, 1])
    sign = np.array([-1, -1, 1, 1])
    inside = np.array([0, 1, 1, 0])
    np.testing.assert_array_equal(x.grad.numpy(), relu + 10 * sign + 100 * inside)


# ----------------------------------------------------------------------------- reductions

@st.composite
def reduction_args(draw, min_dims=0):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=4))
    nd = len(shape)
    options = [st.none(), hnp.valid_tuple_axes(nd, min_size=0)]
    if nd:
        options.append(st.integers(-nd, nd - 1))
    axis = draw(st.one_of(*options))
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("op", ["sum", "mean"])
@given(args=reduction_args(), seed=seeds)
def test_sum_mean(device, op, args, seed):
    shape, axis, keepdims = args
    check(lambda x: getattr(x, op)(axis=axis, keepdims=keepdims), [uniform(seed, shape)], device)


@pytest.mark.parametrize("op", ["max", "min"])
@given(args=reduction_args(), seed=seeds)
def test_max_min_distinct_values(device, op, args, seed):
    shape, axis, keepdims = args
    check(lambda x: getattr(mg, op)(x, axis, keepdims), [distinct(seed, shape)], device)


@given(args=reduction_args(min_dims=1))
def test_reduction_torch_aliases(device, args):
    shape, axis, keepdims = args
    x = leaf(distinct(0, shape), device)
    for op in ("sum", "mean", "max", "min"):
        a = getattr(x, op)(axis=axis, keepdims=keepdims)
        b = getattr(x, op)(dim=axis, keepdim=keepdims)
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_max_min_ties_share_the_gradient_equally(device, op, axis, keepdims):
    """The documented tie rule: the k tied extrema each receive 1/k of the incoming gradient."""
    x_np = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [3.0, -1.0, 0.0]])
    x_np = x_np if op == "max" else -x_np
    x = leaf(x_np, device)
    y = getattr(x, op)(axis=axis, keepdims=keepdims)
    upstream = np.random.default_rng(1).uniform(1.0, 2.0, size=y.shape)
    y.backward(mg.tensor(upstream, device=device))
    pick = np.max if op == "max" else np.min
    tied = x_np == pick(x_np, axis=axis, keepdims=True)
    up = upstream if keepdims else np.expand_dims(upstream, axis if axis is not None else (0, 1))
    expected = tied * up / tied.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_max_tie_rule_literal():
    x = mg.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    x.grad = None
    x.max().backward()                       # the global max 3.0 appears twice
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [0, 0, 0]])


# ----------------------------------------------------------------------------- shapes

@st.composite
def reshape_args(draw):
    shape = draw(shapes)
    size = int(np.prod(shape))
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    d = draw(st.sampled_from(divisors))
    target = draw(st.sampled_from([(size,), (-1,), (d, -1), (-1, d), (d, size // d, 1), (1, -1, d),
                                   (1,) * 2 + (size,)]))
    as_tuple = draw(st.booleans())
    return shape, target, as_tuple


@given(args=reshape_args(), seed=seeds)
def test_reshape(device, args, seed):
    shape, target, as_tuple = args
    check(lambda x: x.reshape(target) if as_tuple else x.reshape(*target), [uniform(seed, shape)], device)


@st.composite
def transpose_args(draw):
    shape = draw(nonscalar_shapes)
    nd = len(shape)
    return shape, draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1))


@given(args=transpose_args(), seed=seeds)
def test_transpose(device, args, seed):
    shape, a, b = args
    check(lambda x: x.transpose(a, b), [uniform(seed, shape)], device)


@st.composite
def permute_args(draw):
    shape = draw(shapes)
    axes = draw(st.permutations(range(len(shape))))
    negative = draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    return shape, tuple(a - len(shape) if neg else a for a, neg in zip(axes, negative))


@given(args=permute_args(), seed=seeds)
def test_permute(device, args, seed):
    shape, axes = args
    check(lambda x: x.permute(*axes) if axes else x.permute(axes), [uniform(seed, shape)], device)
    check(lambda x: mg.permute(x, axes), [uniform(seed, shape)], device)


@given(shape=shapes, seed=seeds)
def test_T(device, shape, seed):
    check(lambda x: x.T * 1.0, [uniform(seed, shape)], device)


@st.composite
def squeeze_args(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2))
    ones = [i for i, n in enumerate(shape) if n == 1]
    nd = len(shape)
    choices = [st.none()]
    if ones:
        choices.append(st.sampled_from(ones + [i - nd for i in ones]))
        choices.append(st.lists(st.sampled_from(ones), unique=True, min_size=1).map(tuple))
    return shape, draw(st.one_of(*choices))


@given(args=squeeze_args(), seed=seeds)
def test_squeeze(device, args, seed):
    shape, axis = args
    check(lambda x: x.squeeze(axis), [uniform(seed, shape)], device)


@st.composite
def unsqueeze_args(draw):
    shape = draw(shapes)
    return shape, draw(st.integers(-len(shape) - 1, len(shape)))


@given(args=unsqueeze_args(), seed=seeds)
def test_unsqueeze(device, args, seed):
    shape, axis = args
    check(lambda x: x.unsqueeze(axis), [uniform(seed, shape)], device)


@st.composite
def broadcast_args(draw):
    target = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    drop = draw(st.integers(0, len(target)))
    kept = target[drop:]
    ones = draw(st.lists(st.booleans(), min_size=len(kept), max_size=len(kept)))
    return tuple(1 if o else n for n, o in zip(kept, ones)), target


@given(args=broadcast_args(), seed=seeds)
def test_broadcast_to(device, args, seed):
    shape, target = args
    check(lambda x: mg.broadcast_to(x, target), [uniform(seed, shape)], device)


# ----------------------------------------------------------------------------- indexing

@st.composite
def basic_index_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    return shape, draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))


@given(args=basic_index_args(), seed=seeds)
def test_getitem_basic(device, args, seed):
    """ints, slices (negative steps included), None and Ellipsis."""
    shape, index = args
    check(lambda x: x[index], [uniform(seed, shape)], device)


@pytest.mark.parametrize("index", [
    (slice(None, None, -1),), (slice(4, 0, -2),), (slice(None), slice(None, None, -2)), (Ellipsis, -1),
    (None, 1, Ellipsis, None), (-2, slice(1, None)), (Ellipsis,)])
def test_getitem_basic_explicit(device, index):
    check(lambda x: x[index], [uniform(3, (5, 4))], device)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=seeds,
       kind=st.sampled_from(["full", "leading", "leading+slice", "tensor"]))
def test_getitem_boolean_mask(device, shape, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "full":
        mask = rng.random(shape) < 0.5
        index = mask
    elif kind == "tensor":
        index = mg.tensor(rng.random(shape) < 0.5, device=device)
    else:
        assume(kind == "leading" or len(shape) >= 2)    # (mask, slice) needs two axes, on every device
        mask = rng.random(shape[:1]) < 0.5
        index = mask if kind == "leading" else (mask, slice(None, None, -1))
    check(lambda x: x[index], [uniform(seed, shape)], device)


@given(n=st.integers(1, 4), rest=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), data=st.data(),
       seed=seeds, kind=st.sampled_from(["list", "numpy", "tensor", "2d", "two_axes", "with_slice"]))
def test_getitem_integer_arrays_with_repeats(device, n, rest, data, seed, kind):
    """Repeated indices must accumulate their gradients (the index is longer than the axis: repeats)."""
    shape = (n,) + rest
    picks = data.draw(st.lists(st.integers(-n, n - 1), min_size=n + 1, max_size=2 * n + 2))
    if kind == "list":
        index = picks
    elif kind == "numpy":
        index = np.array(picks)
    elif kind == "tensor":
        index = mg.tensor(picks, device=device)
    elif kind == "2d":
        index = np.array(picks[: (len(picks) // 2) * 2]).reshape(2, -1)
    elif kind == "two_axes":
        if not rest:
            shape = (n, n)
        m = shape[1]
        second = data.draw(st.lists(st.integers(-m, m - 1), min_size=len(picks), max_size=len(picks)))
        index = (np.array(picks), np.array(second))
    else:
        index = (slice(None, None, -1), np.array(picks)) if rest else (np.array(picks), Ellipsis)
        if rest:
            m = shape[1]
            index = (slice(None, None, -1), np.array([p % m for p in picks]))
    check(lambda x: x[index], [uniform(seed, shape)], device)


@given(data=st.data(), seed=seeds)
def test_getitem_hypothesis_integer_array_indices(device, data, seed):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    result_shape = hnp.array_shapes(min_dims=1, max_dims=2, max_side=5)
    index = data.draw(hnp.integer_array_indices(shape, result_shape=result_shape))
    check(lambda x: x[index], [uniform(seed, shape)], device)


def test_getitem_repeated_index_accumulates_exactly(device):
    x = leaf([10.0, 20.0, 30.0], device)
    x[[0, 2, 0, 0, -1]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 2.0])


# ----------------------------------------------------------------------------- joining and choosing

@st.composite
def cat_args(draw):
    shape = draw(nonscalar_shapes)
    nd = len(shape)
    axis = draw(st.integers(-nd, nd - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    shapes_ = [shape[:axis % nd] + (s,) + shape[axis % nd + 1:] for s in sizes]
    return shapes_, axis


@given(args=cat_args(), seed=seeds, use_dim=st.booleans())
def test_cat(device, args, seed, use_dim):
    shapes_, axis = args
    arrays = [uniform(seed + i, s) for i, s in enumerate(shapes_)]
    fn = (lambda *xs: mg.cat(xs, dim=axis)) if use_dim else (lambda *xs: mg.cat(list(xs), axis))
    check(fn, arrays, device)


@given(shape=shapes, data=st.data(), count=st.integers(1, 4), seed=seeds)
def test_stack(device, shape, data, count, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    arrays = [uniform(seed + i, shape) for i in range(count)]
    check(lambda *xs: mg.stack(xs, axis), arrays, device)


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), seed=seeds,
       cond_kind=st.sampled_from(["numpy", "tensor", "comparison"]))
def test_where(device, shapes, seed, cond_kind):
    sc, sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    cond = rng.random(sc) < 0.5
    if cond_kind == "tensor":
        cond = mg.tensor(cond, device=device)
    elif cond_kind == "comparison":
        cond = mg.tensor(rng.uniform(-1, 1, sc), device=device) > 0
    check(lambda a, b: mg.where(cond, a, b), [uniform(seed, sa), uniform(seed + 1, sb)], device)


def test_where_one_side_constant(device):
    a = leaf([1.0, 2.0, 3.0], device)
    y = mg.where(np.array([True, False, True]), a, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 0.0, 1.0])


# ----------------------------------------------------------------------------- dtype casts and detach

@given(shape=shapes, seed=seeds)
def test_cast_to_float64(device, shape, seed):
    check(lambda x: mg.ops.cast(x, mg.float64).exp(), [uniform(seed, shape)], device)


@given(shape=shapes, seed=seeds)
def test_cast_float32_to_float64_sends_gradient_back_in_float32(device, shape, seed):
    x_np = uniform(seed, shape).astype(np.float32)
    x = mg.tensor(x_np, device=device, requires_grad=True)
    y = x.to(mg.float64)
    assert y.dtype == mg.float64 and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype == mg.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * x_np.astype(np.float64), rtol=1e-6)


@given(shape=shapes, seed=seeds)
def test_detach_cuts_gradients(device, shape, seed):
    x_np = uniform(seed, shape)
    x = leaf(x_np, device)
    d = x.detach()
    assert d.grad_fn is None and not d.requires_grad
    # only the first factor is differentiated: d/dx (x * stop(x)) = stop(x); exp(stop(x)) is a constant
    (x * d + d.exp()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x_np, rtol=1e-15)


# ----------------------------------------------------------------------------- a composite, as a net uses ops

@given(batch=st.integers(1, 3), n_in=st.integers(1, 4), n_out=st.integers(1, 4), seed=seeds)
def test_composite_layer(device, batch, n_in, n_out, seed):
    def layer(x, w, b):
        h = (x @ w.T + b).tanh()
        return (h * h.sigmoid()).mean(axis=0).sum() + (x ** 2).sum(axis=-1, keepdims=True).sqrt().max()
    arrays = [uniform(seed, (batch, n_in)), uniform(seed + 1, (n_out, n_in)), uniform(seed + 2, (n_out,))]
    check(layer, arrays, device)
