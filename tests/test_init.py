"""nn.init's bounds, statistics and orthogonality, and clip_grad_norm_ with the inf norm.

Found by mutation testing: an initializer 12% too wide, and an inf-norm clip that kept only the last
gradient's maximum, passed the suite; these tests check the exact numbers.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def _uniform_checks(w, bound):
    """Within [-bound, bound], reaching close to it, mean ~0 and variance bound^2/3 (a large tensor)."""
    x = w.numpy().astype(np.float64).ravel()
    assert np.abs(x).max() <= bound
    assert np.abs(x).max() >= 0.999 * bound
    assert abs(x.mean()) < 0.01 * bound
    assert x.var() == pytest.approx(bound ** 2 / 3, rel=0.01)


@pytest.mark.parametrize("shape, gain", [((1000, 600), 1.0), ((400, 900), 5 / 3), ((64, 50, 3, 3), 1.0)])
def test_xavier_uniform_bound_and_variance(shape, gain):
    mg.manual_seed(1)
    w = mg.zeros(shape, dtype=mg.float64)
    assert nn.init.xavier_uniform_(w, gain=gain) is w
    receptive = math.prod(shape[2:])
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    _uniform_checks(w, gain * math.sqrt(6.0 / (fan_in + fan_out)))


@pytest.mark.parametrize("shape, gain", [((1000, 600), math.sqrt(2.0)), ((500, 1200), 1.0), ((64, 50, 3, 3), 2.0)])
def test_kaiming_uniform_bound_and_variance(shape, gain):
    mg.manual_seed(2)
    w = mg.zeros(shape, dtype=mg.float64)
    assert nn.init.kaiming_uniform_(w, nonlinearity_gain=gain) is w
    fan_in = shape[1] * math.prod(shape[2:])
    _uniform_checks(w, gain * math.sqrt(3.0 / fan_in))


def test_kaiming_uniform_default_gain_is_sqrt2():
    mg.manual_seed(3)
    w = nn.init.kaiming_uniform_(mg.zeros((800, 750), dtype=mg.float64))
    _uniform_checks(w, math.sqrt(6.0 / 750))


def test_uniform_bounds_a_12_percent_wider_range_is_caught():
    mg.manual_seed(4)
    w = nn.init.uniform_(mg.zeros((1000, 600), dtype=mg.float64), -1.12, 1.12)
    with pytest.raises(AssertionError):
        _uniform_checks(w, 1.0)


@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
@pytest.mark.parametrize("shape", [(64, 64), (96, 40), (40, 96), (16, 4, 5)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_rows_or_columns_are_orthonormal(shape, gain, dtype):
    mg.manual_seed(5)
    w = mg.zeros(shape, dtype=dtype)
    assert nn.init.orthogonal_(w, gain=gain) is w
    assert w.shape == shape and w.dtype == dtype
    m = w.numpy().astype(np.float64).reshape(shape[0], -1)
    rows, cols = m.shape
    gram = m @ m.T if rows <= cols else m.T @ m          # the smaller side is orthonormal
    tol = 1e-5 if dtype == mg.float32 else 1e-12
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=tol * gain ** 2)
    if rows == cols:
        np.testing.assert_allclose(m.T @ m, gain ** 2 * np.eye(rows), atol=tol * gain ** 2)


def test_orthogonal_draws_differ_and_follow_the_seed():
    mg.manual_seed(6)
    a = nn.init.orthogonal_(mg.zeros((8, 8), dtype=mg.float64)).numpy()
    b = nn.init.orthogonal_(mg.zeros((8, 8), dtype=mg.float64)).numpy()
    mg.manual_seed(6)
    c = nn.init.orthogonal_(mg.zeros((8, 8), dtype=mg.float64)).numpy()
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, c)


# ----------------------------------------------------------------------------- clip_grad_norm_, inf norm

@pytest.mark.parametrize("largest", [0, 1])
def test_clip_grad_norm_inf_uses_the_largest_element_of_every_gradient(largest):
    grads = [np.array([[5.0, -9.0], [1.0, 2.0]]), np.array([0.5, -3.0, 4.0]), np.array([[-1.0]])]
    if largest == 1:                                  # the largest |g| in the middle gradient, still not the last
        grads[1] = np.array([0.5, -11.0, 4.0])
    params = []
    for g in grads:
        p = mg.tensor(np.zeros_like(g), dtype=mg.float64, requires_grad=True)
        p.grad = mg.tensor(g.copy(), dtype=mg.float64)
        params.append(p)
    expected = max(np.abs(g).max() for g in grads)
    total = nn.utils.clip_grad_norm_(params, max_norm=2.0, norm_type=math.inf)
    assert total == expected
    coef = 2.0 / (expected + 1e-6)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)
    assert max(np.abs(p.grad.numpy()).max() for p in params) == pytest.approx(2.0, rel=1e-6)


def test_clip_grad_norm_inf_below_max_norm_leaves_gradients_alone():
    p, q = (mg.tensor(np.zeros(2), dtype=mg.float64, requires_grad=True) for _ in range(2))
    p.grad, q.grad = mg.tensor([-3.0, 1.0], dtype=mg.float64), mg.tensor([0.5, 0.25], dtype=mg.float64)
    assert nn.utils.clip_grad_norm_([p, q], max_norm=10.0, norm_type=float("inf")) == 3.0
    np.testing.assert_array_equal(p.grad.numpy(), [-3.0, 1.0])
    np.testing.assert_array_equal(q.grad.numpy(), [0.5, 0.25])
