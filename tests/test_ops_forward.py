"""Forward values and dtypes of every op against NumPy on the same inputs, on every available device."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

seeds = st.integers(0, 2**32 - 1)
float_dtypes = st.sampled_from([np.float32, np.float64])
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)


def values(seed, shape, dtype, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


def on(device, array, requires_grad=False):
    return mg.tensor(array, device=device, requires_grad=requires_grad)


def same(result, expected, rtol=None):
    """`result` (a Tensor) has NumPy's dtype and shape and (to rounding) its values."""
    expected = np.asarray(expected)
    assert isinstance(result, mg.Tensor)
    assert result.dtype == expected.dtype, (result.dtype, expected.dtype)
    assert result.shape == expected.shape, (result.shape, expected.shape)
    if rtol is None:
        rtol = 1e-6 if expected.dtype == np.float32 else 1e-13
    np.testing.assert_allclose(result.numpy(), expected, rtol=rtol, atol=0 if expected.dtype.kind != "f" else rtol)


# ----------------------------------------------------------------------------- dtype rules

def test_python_floats_are_float32_by_default():
    assert mg.tensor(1.5).dtype == mg.float32
    assert mg.tensor([1.0, 2.0]).dtype == mg.float32
    assert mg.tensor([[1, 2.5]]).dtype == mg.float32
    assert mg.zeros(2).dtype == mg.ones(2, 3).dtype == mg.randn(2).dtype == mg.rand(2).dtype == mg.float32
    assert mg.full((2,), 1.0).dtype == mg.float32
    assert mg.arange(0.5, 3).dtype == mg.float32


def test_float64_arrays_keep_their_dtype():
    x = np.array([1.0, 2.0])
    assert mg.tensor(x).dtype == mg.float64
    assert mg.tensor(np.float64(2.0)).dtype == mg.float64
    assert mg.tensor(x.astype(np.float32)).dtype == mg.float32
    assert mg.tensor([1.0], dtype=mg.float64).dtype == mg.float64
    assert mg.tensor([1.0], dtype="float64").dtype == mg.float64
    assert mg.zeros(3, dtype=np.float64).dtype == mg.float64


def test_python_ints_are_int64_and_bools_bool():
    assert mg.tensor(3).dtype == mg.int64
    assert mg.tensor([[1, 2], [3, 4]]).dtype == mg.int64
    assert mg.arange(5).dtype == mg.int64
    assert mg.full((2,), 3).dtype == mg.int64
    assert mg.randint(0, 5, (3,)).dtype == mg.int64
    assert mg.tensor([True, False]).dtype == mg.bool_


def test_set_default_dtype_changes_python_floats_only():
    mg.set_default_dtype(mg.float64)               # the autouse fixture restores float32
    assert mg.tensor(1.5).dtype == mg.float64
    assert mg.zeros(2).dtype == mg.float64
    assert mg.tensor(3).dtype == mg.int64
    assert mg.tensor(np.ones(2, np.float32)).dtype == mg.float32


WITH_NUMBERS = {
    "x * 2": (lambda x: x * 2, lambda a: a * 2), "2 * x": (lambda x: 2 * x, lambda a: 2 * a),
    "x * 2.5": (lambda x: x * 2.5, lambda a: a * 2.5), "x + 1": (lambda x: x + 1, lambda a: a + 1),
    "1 - x": (lambda x: 1 - x, lambda a: 1 - a), "x / 3": (lambda x: x / 3, lambda a: a / 3),
    "3 / x": (lambda x: 3 / x, lambda a: 3 / a), "x ** 2": (lambda x: x ** 2, lambda a: a ** 2),
    "x ** 0.5": (lambda x: x ** 0.5, lambda a: a ** 0.5), "2.0 ** x": (lambda x: 2.0 ** x, lambda a: 2.0 ** a),
    "-x": (lambda x: -x, lambda a: -a), "exp": (lambda x: x.exp(), np.exp),
    "sum": (lambda x: x.sum(), np.sum), "mean": (lambda x: x.mean(axis=0), lambda a: a.mean(axis=0)),
    "max": (lambda x: x.max(), np.max),
}


@pytest.mark.parametrize("expr", sorted(WITH_NUMBERS))
def test_float32_stays_float32_with_python_numbers(device, expr):
    x_np = np.array([0.5, 1.5, 2.5], dtype=np.float32)
    fn, ref = WITH_NUMBERS[expr]
    result = fn(on(device, x_np, requires_grad=True))
    assert result.dtype == mg.float32
    same(result, ref(x_np))


def test_mixed_float_dtypes_promote_as_numpy(device):
    a = on(device, np.ones(3, np.float32))
    b = on(device, np.ones(3, np.float64))
    assert (a + b).dtype == mg.float64
    assert (a @ b).dtype == mg.float64
    assert (b * 2).dtype == mg.float64
    i = on(device, np.array([1, 2, 3]))
    assert (i + 1).dtype == mg.int64 and (i * i).dtype == mg.int64
    same(i + 1, np.array([2, 3, 4]))


def test_int_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match=r"floating.*int64"):
        mg.tensor([1, 2], requires_grad=True)
    t = mg.arange(3)
    with pytest.raises(TypeError, match=r"requires_grad.*int64"):
        t.requires_grad = True
    with pytest.raises(TypeError, match="floating"):
        mg.zeros(2, dtype=mg.int64, requires_grad=True)


# ----------------------------------------------------------------------------- elementwise

BINARY = {"add": (lambda a, b: a + b, np.add), "sub": (lambda a, b: a - b, np.subtract),
          "mul": (lambda a, b: a * b, np.multiply), "div": (lambda a, b: a / b, np.divide),
          "pow": (lambda a, b: a ** b, np.power)}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=pairs, seed=seeds, dtype=float_dtypes)
def test_binary(device, name, shapes, seed, dtype):
    sa, sb = shapes.input_shapes
    a = values(seed, sa, dtype, 0.5, 2.0)
    b = values(seed + 1, sb, dtype, 0.5, 2.0)
    fn, ref = BINARY[name]
    same(fn(on(device, a), on(device, b)), ref(a, b))
    same(fn(on(device, a, True), b), ref(a, b))              # an ndarray on either side is a constant
    same(fn(a, on(device, b, True)), ref(a, b))


UNARY = {
    "neg": (lambda x: -x, np.negative, (-2, 2)),
    "exp": (mg.exp, np.exp, (-2, 2)),
    "log": (mg.log, np.log, (0.1, 3)),
    "tanh": (mg.tanh, np.tanh, (-3, 3)),
    "sigmoid": (mg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-6, 6)),
    "relu": (mg.relu, lambda x: np.maximum(x, 0), (-2, 2)),
    "sqrt": (mg.sqrt, np.sqrt, (0, 3)),
    "abs": (mg.abs, np.abs, (-2, 2)),
    "clip": (lambda x: x.clip(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), (-2, 2)),
    "clip_lo": (lambda x: x.clip(lo=-0.5), lambda x: np.maximum(x, -0.5), (-2, 2)),
    "clamp_hi": (lambda x: x.clamp(hi=0.7), lambda x: np.minimum(x, 0.7), (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds, dtype=float_dtypes, requires_grad=st.booleans())
def test_unary(device, name, shape, seed, dtype, requires_grad):
    fn, ref, (low, high) = UNARY[name]
    x = values(seed, shape, dtype, low, high)
    rtol = 2e-6 if dtype == np.float32 else 1e-13           # sigmoid is computed through tanh
    same(fn(on(device, x, requires_grad)), ref(x).astype(dtype), rtol=rtol)


def test_sigmoid_is_stable_for_large_inputs(device):
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # no overflow warning either
        y = mg.sigmoid(on(device, x)).numpy()
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, [0, 0, np.exp(-30.0), 0.5, 1, 1, 1], rtol=1e-5, atol=1e-30)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_sigmoids_saturate_without_warnings(device, dtype):
    """sigmoid_ and sigmoid_of_negated_ (the fused RNN cells' gates) let exp overflow to inf on purpose and
    give exact 0 there, with no RuntimeWarning and no process-wide filter."""
    from minigrad.ops.unary import sigmoid_, sigmoid_of_negated_
    x = np.array([-1e4, -1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0, 1e4], dtype=dtype)
    want = 1 / (1 + np.exp(-x.astype(np.float64).clip(-700, 700)))
    for y in (sigmoid_(on(device, x).data), sigmoid_of_negated_(on(device, -x).data)):
        y = mg.tensor(y).numpy()
        assert y.dtype == dtype and y[0] == 0 and y[-1] == 1
        np.testing.assert_allclose(y, want, rtol=1e-6 if dtype == np.float32 else 1e-15,
                                   atol=1e-38 if dtype == np.float32 else 1e-300)


def test_sigmoid_of_integers_and_float16(device):
    """Integers give float64 (as NumPy's exp does); float16 stays float16 (computed in float32)."""
    y = mg.sigmoid(on(device, np.array([-3, 0, 2]))).numpy()
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-np.array([-3.0, 0.0, 2.0]))), rtol=1e-15)
    x16 = np.array([-12.0, -1.0, 0.0, 3.0], dtype=np.float16)
    y16 = mg.sigmoid(on(device, x16)).numpy()
    assert y16.dtype == np.float16
    np.testing.assert_allclose(y16, 1 / (1 + np.exp(-x16.astype(np.float64))), rtol=1e-3)


def test_comparisons_give_bool_tensors_without_grad(device):
    a_np, b_np = np.array([1.0, 2.0, 3.0], np.float32), np.array([3.0, 2.0, 1.0], np.float32)
    a, b = on(device, a_np, True), on(device, b_np)
    for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        r = getattr(a, op)(b)
        same(r, getattr(a_np, op)(b_np))
        assert not r.requires_grad and r.grad_fn is None
    same(a > 1.5, a_np > 1.5)


# ----------------------------------------------------------------------------- matmul

@given(batches=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
       n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), seed=seeds, dtype=float_dtypes,
       kind=st.sampled_from(["mat@mat", "vec@vec", "vec@mat", "mat@vec"]))
def test_matmul(device, batches, n, k, m, seed, dtype, kind):
    ba, bb = batches.input_shapes
    sa, sb = {"mat@mat": (ba + (n, k), bb + (k, m)), "vec@vec": ((k,), (k,)),
              "vec@mat": ((k,), bb + (k, m)), "mat@vec": (ba + (n, k), (k,))}[kind]
    a, b = values(seed, sa, dtype), values(seed + 1, sb, dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    same(on(device, a, True) @ on(device, b), a @ b, rtol=rtol)
    same(mg.matmul(on(device, a), on(device, b, True)), np.matmul(a, b), rtol=rtol)


# ----------------------------------------------------------------------------- reductions

@st.composite
def reduction_args(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    nd = len(shape)
    axis = draw(st.one_of(st.none(), st.integers(-nd, nd - 1), hnp.valid_tuple_axes(nd, min_size=1)))
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@given(args=reduction_args(), seed=seeds, dtype=float_dtypes)
def test_reductions(device, op, args, seed, dtype):
    shape, axis, keepdims = args
    x = values(seed, shape, dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    same(getattr(on(device, x, True), op)(axis=axis, keepdims=keepdims),
         getattr(x, op)(axis=axis, keepdims=keepdims), rtol=rtol)
    same(getattr(mg, op)(on(device, x), axis, keepdims), getattr(np, op)(x, axis=axis, keepdims=keepdims), rtol=rtol)


def test_reduction_list_axis_and_aliases(device):
    x = np.arange(24.0).reshape(2, 3, 4)
    t = on(device, x)
    same(t.sum(axis=[0, 2]), x.sum(axis=(0, 2)))
    same(t.mean(dim=1, keepdim=True), x.mean(axis=1, keepdims=True))
    same(t.max(dim=-1), x.max(axis=-1))


# ----------------------------------------------------------------------------- shapes and indexing

SHAPE_OPS = [
    ("reshape(-1)", lambda t: t.reshape(-1), lambda a: a.reshape(-1)),
    ("reshape(3,-1,2)", lambda t: t.reshape(3, -1, 2), lambda a: a.reshape(3, -1, 2)),
    ("reshape(tuple)", lambda t: t.reshape((4, 6)), lambda a: a.reshape(4, 6)),
    ("view", lambda t: t.view(6, 4), lambda a: a.reshape(6, 4)),
    ("flatten", lambda t: t.flatten(), lambda a: a.reshape(-1)),
    ("transpose", lambda t: t.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
    ("transpose neg", lambda t: t.transpose(-1, -2), lambda a: a.swapaxes(-1, -2)),
    ("mg.transpose", lambda t: mg.transpose(t, 1, 0), lambda a: a.swapaxes(1, 0)),
    ("permute", lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    ("permute tuple", lambda t: t.permute((1, 2, 0)), lambda a: a.transpose(1, 2, 0)),
    ("T", lambda t: t.T, lambda a: a.T),
    ("unsqueeze", lambda t: t.unsqueeze(1), lambda a: np.expand_dims(a, 1)),
    ("unsqueeze -1", lambda t: t.unsqueeze(-1), lambda a: np.expand_dims(a, -1)),
    ("squeeze", lambda t: t.reshape(1, 2, 1, 12).squeeze(), lambda a: a.reshape(1, 2, 1, 12).squeeze()),
    ("squeeze axis", lambda t: t.reshape(1, 2, 1, 12).squeeze(-2), lambda a: a.reshape(1, 2, 1, 12).squeeze(-2)),
    ("broadcast_to", lambda t: mg.broadcast_to(t[:, :, :1], (5, 2, 3, 4)),
     lambda a: np.broadcast_to(a[:, :, :1], (5, 2, 3, 4))),
    ("getitem int", lambda t: t[1], lambda a: a[1]),
    ("getitem slices", lambda t: t[:, ::-1, 1:3], lambda a: a[:, ::-1, 1:3]),
    ("getitem neg step", lambda t: t[..., 3:0:-2], lambda a: a[..., 3:0:-2]),
    ("getitem None", lambda t: t[None, 0, ..., None], lambda a: a[None, 0, ..., None]),
    ("getitem mask", lambda t: t[t > 10], lambda a: a[a > 10]),
    ("getitem mask np", lambda t: t[np.array([True, False])], lambda a: a[np.array([True, False])]),
    ("getitem int array", lambda t: t[[1, 1, 0]], lambda a: a[[1, 1, 0]]),
    ("getitem int arrays", lambda t: t[np.array([0, 1, 1]), :, np.array([3, 3, 0])],
     lambda a: a[np.array([0, 1, 1]), :, np.array([3, 3, 0])]),
    ("getitem tensor index", lambda t: t[:, mg.tensor([2, -1, 2], device=t.device)], lambda a: a[:, [2, -1, 2]]),
]


@pytest.mark.parametrize("name,fn,ref", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_index_ops(device, name, fn, ref, dtype):
    x = np.arange(24, dtype=dtype).reshape(2, 3, 4)
    same(fn(on(device, x, True)), ref(x))


def test_join_and_where(device):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(2, 1)).astype(np.float32)
    c = rng.normal(size=(2, 3)).astype(np.float32)
    same(mg.cat([on(device, a), on(device, b)], axis=1), np.concatenate([a, b], axis=1))
    same(mg.cat((on(device, a), on(device, c)), dim=-2), np.concatenate([a, c], axis=-2))
    same(mg.stack([on(device, a), on(device, c)], axis=-1), np.stack([a, c], axis=-1))
    same(mg.stack([on(device, a), on(device, c)], dim=1), np.stack([a, c], axis=1))
    cond = a > 0
    same(mg.where(cond, on(device, a), on(device, b)), np.where(cond, a, b))
    same(mg.where(on(device, a) > 0, on(device, a), 0.0), np.where(cond, a, np.float32(0)))


def test_cast(device):
    x = np.array([1.25, -2.5], dtype=np.float32)
    t = on(device, x, True)
    same(t.to(mg.float64), x.astype(np.float64))
    same(t.double(), x.astype(np.float64))
    same(t.to(dtype="float64").float(), x)
    assert t.to(mg.float32) is t                           # no-op casts make no node


def test_results_live_on_the_inputs_device(device):
    x = on(device, np.ones((2, 3), np.float32), True)
    for r in (x + 1, x @ x.T, x.sum(0), x[0], x.exp(), mg.cat([x, x]), x.reshape(-1), x.max()):
        assert r.device == device
