"""minigrad.nn.functional: values against NumPy formulas written here, gradients against finite
differences (float64), stability for scores of magnitude 1e3, dropout's mask, embedding's scatter-add,
and the errors users meet (wrong target dtype, range, shape, reduction)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.ops import index, nn_ops


def leaf(array, device, dtype=mg.float64):
    return mg.tensor(np.asarray(array), dtype=dtype, device=device, requires_grad=True)


def ints(array, device):
    return mg.tensor(np.asarray(array, dtype=np.int64), device=device)


# ----------------------------------------------------------------------------- NumPy references

def ref_log_softmax(x, axis):
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def ref_cross_entropy(x, t, ignore_index=-100, reduction="mean", log_probs=False):
    """Per-target -log p[target], written as the class axis moved last and the targets flattened."""
    x, t = np.asarray(x, dtype=np.float64), np.asarray(t)
    if x.ndim == 1:
        x, t = x[None], t[None]
    logp = x if log_probs else ref_log_softmax(x, axis=1)
    flat = np.moveaxis(logp, 1, -1).reshape(-1, x.shape[1])
    tf = t.reshape(-1)
    keep = tf != ignore_index
    loss = np.zeros(tf.shape)
    loss[keep] = -flat[np.flatnonzero(keep), tf[keep]]
    if reduction == "none":
        return loss.reshape(np.asarray(t).shape if np.ndim(t) else ())
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum() if keep.any() else np.nan


def ref_ce_grad(x, t, ignore_index=-100):
    """d mean(cross_entropy)/dx = (softmax - onehot) / n_valid at kept targets."""
    x, t = np.asarray(x, dtype=np.float64), np.asarray(t)
    p = np.exp(ref_log_softmax(x, axis=1))
    onehot = (np.arange(x.shape[1]).reshape((1, -1) + (1,) * (x.ndim - 2)) == t[:, None]).astype(float)
    keep = (t != ignore_index)[:, None]
    return (p - onehot) * keep / keep.sum()


# ----------------------------------------------------------------------------- softmax / log_softmax

@pytest.mark.parametrize("shape, axis", [((5,), -1), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1)])
def test_softmax_values_and_gradients(device, rng, shape, axis):
    x = rng.normal(size=shape) * 3
    want = ref_log_softmax(x, axis)
    y = F.softmax(leaf(x, device), axis=axis)
    np.testing.assert_allclose(y.numpy(), np.exp(want), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(y.numpy().sum(axis=axis), 1.0, rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(leaf(x, device), dim=axis).numpy(), want, rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(lambda a: F.softmax(a, dim=axis), [leaf(x, device)])
    assert mg.gradcheck(lambda a: F.log_softmax(a, axis), [leaf(x, device)])


def test_softmax_rows_sum_to_one_float32(device, rng):
    y = F.softmax(mg.tensor(rng.normal(size=(64, 65)) * 10, dtype=mg.float32, device=device), axis=-1)
    assert y.dtype == mg.float32
    np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0, rtol=1e-5)
    assert (y.numpy() >= 0).all()


@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
def test_softmax_and_log_softmax_stable_for_huge_scores(device, rng, dtype):
    x = rng.normal(size=(4, 6)) * 1e3
    x[0, :] = 1e3                     # ties at the max
    x[1, :] = -1e3
    for fn, ref in ((F.softmax, np.exp(ref_log_softmax(x, 1))), (F.log_softmax, ref_log_softmax(x, 1))):
        a = leaf(x, device, dtype)
        y = fn(a, axis=1)
        g = rng.normal(size=x.shape)
        y.backward(mg.tensor(g, dtype=dtype, device=device))
        assert np.isfinite(y.numpy()).all() and np.isfinite(a.grad.numpy()).all()
        tol = 1e-5 if dtype == mg.float32 else 1e-12
        np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol)
    assert mg.gradcheck(lambda a: F.log_softmax(a, 1), [leaf(x, device)])


def test_softmax_rejects_bad_axis_and_integer_input(device):
    with pytest.raises(ValueError, match="softmax"):
        F.softmax(mg.zeros(2, 3, device=device), axis=2)
    with pytest.raises(TypeError, match="log_softmax.*int64"):
        F.log_softmax(mg.tensor([[1, 2]], device=device))


# ----------------------------------------------------------------------------- cross_entropy / nll_loss

LAYOUTS = [((6, 5), (6,)), ((3, 4, 5), (3, 5)), ((2, 3, 2, 4), (2, 2, 4)), ((4,), ())]


def targets_for(rng, x_shape, t_shape, ignore_index=None):
    c = x_shape[1] if len(x_shape) > 1 else x_shape[0]
    t = rng.integers(0, c, size=t_shape)
    if ignore_index is not None and t.size > 1:
        t.reshape(-1)[::3] = ignore_index      # every third target ignored
    return t


@pytest.mark.parametrize("x_shape, t_shape", LAYOUTS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [None, -100, 1])
def test_cross_entropy_values_and_gradients(device, rng, x_shape, t_shape, reduction, ignore_index):
    x = rng.normal(size=x_shape) * 2
    t = targets_for(rng, x_shape, t_shape, ignore_index)
    kwargs = {"reduction": reduction}
    if ignore_index is not None:
        kwargs["ignore_index"] = ignore_index
    ii = -100 if ignore_index is None else ignore_index
    loss = F.cross_entropy(leaf(x, device), ints(t, device), **kwargs)
    assert loss.shape == (t.shape if reduction == "none" else ())
    np.testing.assert_allclose(loss.numpy(), ref_cross_entropy(x, t, ii, reduction), rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(lambda a: F.cross_entropy(a, ints(t, device), **kwargs), [leaf(x, device)])
    lp = ref_log_softmax(x, axis=1 if x.ndim > 1 else 0)
    nll = F.nll_loss(leaf(lp, device), ints(t, device), **kwargs)
    np.testing.assert_allclose(nll.numpy(), ref_cross_entropy(lp, t, ii, reduction, log_probs=True),
                               rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(lambda a: F.nll_loss(a, ints(t, device), **kwargs), [leaf(lp, device)])


def test_cross_entropy_gradient_is_softmax_minus_onehot(device, rng):
    x = rng.normal(size=(5, 7, 3))
    t = targets_for(rng, x.shape, (5, 3), ignore_index=-100)
    a = leaf(x, device)
    F.cross_entropy(a, ints(t, device)).backward()
    np.testing.assert_allclose(a.grad.numpy(), ref_ce_grad(x, t), rtol=1e-12, atol=1e-15)


def test_cross_entropy_equals_nll_of_log_softmax_float32(device, rng):
    x = mg.tensor(rng.normal(size=(50, 65)) * 4, dtype=mg.float32, device=device, requires_grad=True)
    t = rng.integers(0, 65, size=50)
    ce = F.cross_entropy(x, t)
    ce.backward()
    g_fused = x.grad.numpy().copy()
    x.grad = None
    nll = F.nll_loss(F.log_softmax(x, axis=1), t)
    nll.backward()
    assert ce.dtype == mg.float32
    np.testing.assert_allclose(ce.item(), nll.item(), rtol=1e-6)
    np.testing.assert_allclose(g_fused, x.grad.numpy(), rtol=1e-5, atol=1e-8)


@given(n=st.integers(1, 4), c=st.integers(1, 5), extra=st.lists(st.integers(1, 3), max_size=2),
       seed=st.integers(0, 2**31), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_random_shapes(n, c, extra, seed, reduction):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, *extra)) * 3
    t = rng.integers(-1, c, size=(n, *extra))          # -1 is ignored
    loss = F.cross_entropy(leaf(x, "cpu"), t, ignore_index=-1, reduction=reduction)
    want = ref_cross_entropy(x, t, -1, reduction)
    if reduction == "mean" and (t == -1).all():
        assert np.isnan(loss.item())
    else:
        np.testing.assert_allclose(loss.numpy(), want, rtol=1e-12, atol=1e-12)
        assert mg.gradcheck(lambda a: F.cross_entropy(a, t, ignore_index=-1, reduction=reduction),
                            [leaf(x, "cpu")])


@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
def test_cross_entropy_stable_for_huge_logits(device, rng, dtype):
    x = rng.normal(size=(6, 5, 2)) * 1e3
    x[0, :, 0] = 1e3                  # all classes tied at a huge value
    x[1, :, 1] = -1e3
    t = targets_for(rng, x.shape, (6, 2))
    for reduction in ("mean", "none"):
        a = leaf(x, device, dtype)
        loss = F.cross_entropy(a, ints(t, device), reduction=reduction)
        loss.sum().backward()
        assert np.isfinite(loss.numpy()).all() and np.isfinite(a.grad.numpy()).all()
        np.testing.assert_allclose(loss.numpy(), ref_cross_entropy(x, t, reduction=reduction), rtol=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), ref_ce_grad(x, t) * t.size, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss.numpy()[0, 0], np.log(5), rtol=1e-6)
    assert mg.gradcheck(lambda a: F.cross_entropy(a, ints(t, device)), [leaf(x, device)])


def test_cross_entropy_accepts_lists_arrays_and_tensors(device, rng):
    x = mg.tensor(rng.normal(size=(3, 4)), device=device)
    values = [F.cross_entropy(x, t).item() for t in ([0, 3, 1], np.array([0, 3, 1], dtype=np.int32),
                                                      mg.tensor([0, 3, 1], device=device))]
    assert values[0] == values[1] == values[2]
    np.testing.assert_allclose(values[0], ref_cross_entropy(x.numpy(), [0, 3, 1]), rtol=1e-6)


def test_cross_entropy_all_ignored_is_nan_with_zero_gradient(device):
    a = mg.zeros(2, 3, dtype=mg.float64, device=device, requires_grad=True)
    loss = F.cross_entropy(a, [-100, -100])
    assert np.isnan(loss.item())
    loss.backward()
    assert (a.grad.numpy() == 0).all()
    assert F.cross_entropy(a, [-100, -100], reduction="sum").item() == 0


def test_cross_entropy_backward_twice_with_retain_graph(device, rng):
    a = leaf(rng.normal(size=(4, 3)), device)
    loss = F.cross_entropy(a, [0, 1, 2, 1], reduction="sum")
    loss.backward(retain_graph=True)
    first = a.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * first, rtol=1e-12)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_class_loss_errors_name_the_function_and_shapes(device, fn):
    name = fn.__name__
    x = mg.zeros(4, 3, device=device)
    with pytest.raises(TypeError, match=rf"{name}: .*integer dtype.*float32"):
        fn(x, mg.zeros(4, device=device))
    with pytest.raises(IndexError, match=rf"{name}: target 3 is out of range for 3 classes .*\(4, 3\)"):
        fn(x, [0, 1, 3, 2])
    with pytest.raises(IndexError, match=rf"{name}: target -2 is out of range"):
        fn(x, [0, -2, -100, 2])
    with pytest.raises(ValueError, match=rf"{name}: targets of shape \(3,\) do not match scores of shape \(4, 3\)"):
        fn(x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"transpose\(1, 2\)"):
        fn(mg.zeros(2, 5, 3, device=device), np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(ValueError, match=rf"{name}: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        fn(x, [0, 1, 2, 0], reduction="avg")
    with pytest.raises(TypeError, match=name):
        fn(mg.tensor([[1, 2]], device=device), [0])
    fn(x, [0, 1, 7, 2], ignore_index=7)             # ignore_index may lie outside [0, C)


# ----------------------------------------------------------------------------- mse_loss

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_values_and_gradients(device, rng, reduction):
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    sq = (x - y) ** 2
    want = {"mean": sq.mean(), "sum": sq.sum(), "none": sq}[reduction]
    np.testing.assert_allclose(F.mse_loss(leaf(x, device), y, reduction=reduction).numpy(), want, rtol=1e-12)
    assert mg.gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), [leaf(x, device), leaf(y, device)])


def test_mse_loss_errors(device):
    with pytest.raises(ValueError, match=r"mse_loss: input of shape \(3, 1\) and target of shape \(3,\)"):
        F.mse_loss(mg.zeros(3, 1, device=device), mg.zeros(3, device=device))
    with pytest.raises(ValueError, match="mse_loss: reduction"):
        F.mse_loss(mg.zeros(3, device=device), mg.zeros(3, device=device), reduction="mean ")


# ----------------------------------------------------------------------------- dropout

def test_dropout_identity_when_not_training_or_p_zero(device, rng):
    x = mg.tensor(rng.normal(size=(5, 6)), device=device, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    for p in (1.0, -0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match=r"dropout: probability p must be in \[0, 1\)"):
            F.dropout(x, p)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_keeps_the_mean_and_zeroes_a_fraction_p(device, p):
    n = 200_000
    y = F.dropout(mg.ones(n, device=device), p).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    sd = np.sqrt(p * (1 - p) / n)                     # binomial spread of the kept fraction
    assert abs((1 - kept.mean()) - p) < 5 * sd
    assert abs(y.mean() - 1) < 5 * sd / (1 - p)


def test_dropout_backward_uses_the_forward_mask(device, rng):
    x = mg.tensor(rng.uniform(1, 2, size=(40, 30)), dtype=mg.float32, device=device, requires_grad=True)
    y = F.dropout(x, 0.3)
    g = rng.normal(size=x.shape).astype(np.float32)
    y.backward(mg.tensor(g, device=device))
    mask = y.numpy() / x.numpy()                      # 0 or 1/(1-p), as forward drew it
    kept = mask != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(mask[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), g * mask, rtol=1e-6)
    # gradcheck with the generator reseeded on every forward, so each sees the same mask
    x64 = leaf(rng.normal(size=(4, 5)), device)
    assert mg.gradcheck(lambda a: (mg.manual_seed(3), F.dropout(a, 0.4))[1], [x64])


def test_dropout_is_reproducible_from_the_seed(device):
    x = mg.ones(1000, device=device)
    mg.manual_seed(42)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    mg.manual_seed(42)
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, c)
    assert (a != b).any()


# ----------------------------------------------------------------------------- embedding

@pytest.mark.parametrize("ids_shape", [(), (7,), (3, 4), (2, 3, 5)])
def test_embedding_values_and_gradient_with_repeated_ids(device, rng, ids_shape):
    weight = rng.normal(size=(5, 3))
    ids = rng.integers(0, 5, size=ids_shape)
    w = leaf(weight, device)
    y = F.embedding(ints(ids, device), w)
    assert y.shape == ids_shape + (3,)
    np.testing.assert_array_equal(y.numpy(), weight[ids])
    g = rng.normal(size=y.shape)
    y.backward(mg.tensor(g, device=device))
    want = np.zeros_like(weight)
    np.add.at(want, ids.reshape(-1), g.reshape(-1, 3))
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-12, atol=1e-15)
    assert mg.gradcheck(lambda a: F.embedding(ids, a), [leaf(weight, device)])


def test_embedding_large_batch_float32_matches_reference(device, rng):
    ids = rng.integers(0, 65, size=(50, 50))
    weight = mg.tensor(rng.normal(size=(65, 16)), dtype=mg.float32, device=device, requires_grad=True)
    y = F.embedding(ids, weight)
    g = rng.normal(size=y.shape).astype(np.float32)
    y.backward(mg.tensor(g, device=device))
    want = np.zeros((65, 16))
    np.add.at(want, ids.reshape(-1), g.reshape(-1, 16).astype(np.float64))
    np.testing.assert_allclose(weight.grad.numpy(), want, rtol=1e-4, atol=1e-4)


def test_embedding_padding_idx_gets_no_gradient(device):
    w = mg.ones(4, 2, dtype=mg.float64, device=device, requires_grad=True)
    F.embedding([[0, 3, 3], [1, 3, 0]], w, padding_idx=-1).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[2, 2], [1, 1], [0, 0], [0, 0]])


def test_embedding_errors(device):
    w = mg.zeros(4, 2, device=device)
    with pytest.raises(IndexError, match=r"embedding: id 4 is out of range for a weight of shape \(4, 2\)"):
        F.embedding([0, 4], w)
    with pytest.raises(IndexError, match="embedding: id -1"):
        F.embedding([-1, 2], w)
    with pytest.raises(TypeError, match="embedding: ids must be integers, got float32"):
        F.embedding(mg.zeros(3, device=device), w)
    with pytest.raises(ValueError, match="embedding: weight must be 2-D"):
        F.embedding([0], mg.zeros(4, device=device))


@pytest.mark.parametrize("one_hot_limit", [0, 1 << 30], ids=["sorted-runs", "one-hot"])
@given(n_rows=st.integers(1, 9), n=st.integers(0, 30), width=st.sampled_from([(), (3,), (2, 2)]),
       seed=st.integers(0, 2**16))
def test_add_rows_accumulates_repeats_and_negative_rows(one_hot_limit, n_rows, n, width, seed):
    """Both strategies of add_rows (one-hot product for small tables, sorted runs otherwise) equal np.add.at."""
    r = np.random.default_rng(seed)
    rows = r.integers(-n_rows, n_rows, n)
    values = r.normal(size=(n,) + width)
    target = r.normal(size=(n_rows,) + width)
    want = target.copy()
    np.add.at(want, rows, values)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nn_ops, "_ONE_HOT_LIMIT", one_hot_limit)
        nn_ops.add_rows(target, rows, values)
    np.testing.assert_allclose(target, want, rtol=1e-12, atol=1e-12)


def test_scatter_add_accumulates_repeats(device):
    """x[index] += values where an index repeats adds every value (the backward of integer-array indexing)."""
    target = mg.zeros(4, dtype=mg.float64, device=device).data
    index.scatter_add(target, ints([0, 3, 0, 0], device).data, leaf([1.0, 2.0, 3.0, 4.0], device).data)
    np.testing.assert_array_equal(mg.tensor(target).numpy(), [8.0, 0.0, 0.0, 2.0])


# ----------------------------------------------------------------------------- linear

@pytest.mark.parametrize("x_shape", [(3,), (4, 3), (2, 5, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_values_and_gradients(device, rng, x_shape, bias):
    x, w, b = rng.normal(size=x_shape), rng.normal(size=(2, 3)), rng.normal(size=2)
    want = x @ w.T + (b if bias else 0)
    inputs = [leaf(x, device), leaf(w, device)] + ([leaf(b, device)] if bias else [])
    y = F.linear(*inputs)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
    assert mg.gradcheck(F.linear, inputs)


def test_linear_only_weight_requires_grad(device, rng):
    x = mg.tensor(rng.normal(size=(4, 3)), dtype=mg.float64, device=device)
    w = leaf(rng.normal(size=(2, 3)), device)
    F.linear(x, w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.ones((4, 2)).T @ x.numpy(), rtol=1e-12)
    assert x.grad is None


def test_linear_errors(device):
    with pytest.raises(ValueError, match=r"linear: input of shape \(4, 3\) does not fit weight of shape \(2, 4\)"):
        F.linear(mg.zeros(4, 3, device=device), mg.zeros(2, 4, device=device))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\)"):
        F.linear(mg.zeros(4, 3, device=device), mg.zeros(2, 3, device=device), mg.zeros(3, device=device))
